"""Checks for instruction-following translation: language, terminology, placeholders, markup.

These take the source segment from the constraint's `src` argument or, when absent, the row's
`src` column. They are verifiable surface checks, not quality estimates (COMET lives in
rewards/translation.py):

- translation:target_language {language}: the detected language of the output (see `language`);
  without `language`, the row's `tgt_lang` column names it (code or English name).
- translation:glossary {glossary: {source term: target term | [alternatives]}}: each target term
  (any alternative) occurs as a whole word, case-insensitively. With a source segment, pairs whose
  source term does not occur in it are skipped. No lemmatization: list inflected forms as
  alternatives for languages that inflect nouns.
- translation:placeholders_preserved {numbers?, tags?, urls?}: every placeholder of the source
  occurs in the output at least as often: `{name}`, `{0}`, `{{var}}`, `${var}`, printf (`%s`,
  `%(name)s`, `%1$d`), XML/HTML tags as written (attributes included), URLs, e-mail addresses, and
  numbers. Numbers are compared by their digits only, so locale formatting may change
  (1,000 ↔ 1.000 ↔ 1 000, 3.14 ↔ 3,14) and non-ASCII digits (٣, ३) count as their value; spelling a
  number out fails.
- translation:markup_preserved: the multiset of tags (name + open/close/self-closing) is equal;
  attribute values may be translated. Markdown is not compared.
- translation:max_length_ratio {ratio}: len(output) / len(src) <= ratio, in characters after
  stripping. Pick the ratio per language pair (Chinese output is much shorter than English).
- translation:no_extra_text: no preamble ("Here is the translation:", "Voici la traduction :",
  "以下是翻译：", "<translation>"), no leading language label ("Portuguese (Portugal): ..."), no
  trailing note ("Note: ...", "(Note: ...)" at the end of the last line, "Alternatively: ...",
  "I hope this helps"), no wrapping quotes, code fence, bold markup or markdown heading the source
  does not have. Preambles are recognised for en, de, fr, es, it, pt, nl, ru, zh, ja, ko only; a
  line that the source itself starts or ends with is never counted. `extra_text_reason` says
  which pattern matched (the translation guards use it).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from rewards.instructions.language import detect_language
from rewards.instructions.segmentation import contains_term
from rewards.instructions.spec import Arg, check
from rewards.languages import LANGUAGE_NAMES

_SRC = Arg("src", "str", column="src")
_OPTIONAL_SRC = Arg("src", "str", required=False, column="src")

# The look-behind makes an e-mail match start only at the start of a run of address characters:
# without it, a long run with no "@" is rescanned from every position (quadratic time).
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]]+|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TAG = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>")
_PLACEHOLDER = re.compile(
    r"\{\{[^{}]*\}\}"  # {{var}}
    r"|\$\{[^{}]*\}"  # ${var}
    r"|\{[\w.:!\[\]-]*\}"  # {name}, {0}, {name:>10}
    r"|%(?:\(\w+\)|\d+\$)?[-+0#]*\d*(?:\.\d+)?[sdifuxXeEgGc@]"  # printf
)
# Digit groups joined by . , ' or a (narrow/no-break) space; a plain space joins only a group
# of exactly three digits (French "1 000"), so "5 10" stays two numbers.
_NUMBER = re.compile(r"\d+(?:(?:[.,'\u00a0\u202f\u2009]|\s(?=\d{3}(?!\d)))\d+)*")


def _take(pattern: re.Pattern[str], text: str) -> tuple[list[str], str]:
    """The matches of `pattern` and the text with them blanked out (so numbers inside are not re-counted)."""
    found = [m.group().rstrip(".,;:!?") if pattern is _URL else m.group() for m in pattern.finditer(text)]
    return found, pattern.sub(" ", text)


def _digits(number: str) -> str:
    return "".join(str(unicodedata.digit(c)) for c in number if unicodedata.digit(c, None) is not None)


def placeholders(text: str, *, numbers: bool = True, tags: bool = True, urls: bool = True) -> Counter[str]:
    """The protected tokens of `text` with their counts (numbers as 'number:<digits>')."""
    found: Counter[str] = Counter()
    kinds = [(_URL, urls), (_TAG, tags), (_PLACEHOLDER, True)]
    for pattern, wanted in kinds:
        items, text = _take(pattern, text)
        if wanted:
            found.update(items)
    if numbers:
        found.update("number:" + _digits(n) for n in _NUMBER.findall(text))
    return found


@check("translation:target_language", Arg("language", "language", column="tgt_lang"))
def target_language(response: str, *, language: str) -> bool:
    return detect_language(response) == language


@check("translation:glossary", Arg("glossary", "glossary"), _OPTIONAL_SRC)
def glossary(response: str, *, glossary: dict[str, list[str]], src: str | None = None) -> bool:
    for source_term, targets in glossary.items():
        if src is not None and not contains_term(src, source_term):
            continue
        if not any(contains_term(response, t) for t in targets):
            return False
    return True


@check(
    "translation:placeholders_preserved",
    _SRC,
    Arg("numbers", "bool", required=False),
    Arg("tags", "bool", required=False),
    Arg("urls", "bool", required=False),
)
def placeholders_preserved(
    response: str, *, src: str, numbers: bool = True, tags: bool = True, urls: bool = True
) -> bool:
    wanted = placeholders(src, numbers=numbers, tags=tags, urls=urls)
    found = placeholders(response, numbers=numbers, tags=tags, urls=urls)
    return not (wanted - found)


def tag_multiset(text: str) -> Counter[tuple[str, str]]:
    """(kind, name) for each tag: kind is 'open', 'close' or 'self'; names are lowercased."""
    tags: Counter[tuple[str, str]] = Counter()
    for tag in _TAG.findall(text):
        name = re.match(r"</?([A-Za-z][\w:.-]*)", tag).group(1).lower()  # type: ignore[union-attr]
        kind = "close" if tag.startswith("</") else "self" if tag.endswith("/>") else "open"
        tags[(kind, name)] += 1
    return tags


@check("translation:markup_preserved", _SRC)
def markup_preserved(response: str, *, src: str) -> bool:
    return tag_multiset(response) == tag_multiset(src)


@check("translation:max_length_ratio", Arg("ratio", "positive_number"), _SRC)
def max_length_ratio(response: str, *, ratio: float, src: str) -> bool:
    return len(response.strip()) / len(src.strip()) <= ratio


_PREAMBLES = re.compile(
    "|".join(
        (
            r"^(?:sure|certainly|of course|gerne|natürlich|bien sûr|claro|certo|конечно)[!.,]?$",
            r"^(?:\w+[!,.]\s*)?(?:here(?:'s| is| are)|below is|the following is)\b.*\btranslat",
            r"^[\w ()'-]{0,40}\btranslat(?:ion|ed text|ed)\b[^:：\n]{0,30}[:：]",
            r"^hier (?:ist|sind) die übersetzung|^[\w ()-]{0,30}übersetzung\s*[:：]",
            r"^voici (?:la|une) traduction|^[\w ()-]{0,30}traduction\s*[:：]",
            r"^aquí (?:está|tienes) la traducción|^[\w ()-]{0,30}traducción\s*[:：]",
            r"^ecco la traduzione|^[\w ()-]{0,30}traduzione\s*[:：]",
            r"^aqui está a tradução|^[\w ()-]{0,30}tradução\s*[:：]",
            r"^hier is de vertaling|^[\w ()-]{0,30}vertaling\s*[:：]",
            r"^вот перевод|^[\w ()-]{0,30}перевод\s*[:：]",
            r"^(?:以下是|这是|這是).{0,12}(?:翻译|翻譯|译文|譯文)|^.{0,12}(?:翻译|翻譯|译文|譯文)\s*[:：]",
            r"^以下は.{0,12}(?:翻訳|訳文)|^.{0,12}(?:翻訳|訳文)\s*[:：]",
            r"^다음은.{0,12}번역|^.{0,12}번역(?:문)?\s*[:：]",
            r"^<(?:translation|output|answer|result|target)>",
        )
    ),
    re.IGNORECASE,
)
_NOTE_WORDS = (
    r"notes?|explanation|translator'?s notes?|translation notes?|n\.b\.|anmerkung|hinweis|remarque|"
    r"nota|notas|примечание|注|注意|注释|注釋|備考|참고|alternative(?: translation)?s?|alternatively"
)
_NOTES = re.compile(
    rf"^\(?\s*(?:{_NOTE_WORDS})\s*[:：,]"
    r"|^(?:i hope this helps|let me know|feel free|hope this helps|if you (?:need|want|have))\b",
    re.IGNORECASE,
)
_TRAILING_NOTE = re.compile(rf"[(（]\s*(?:{_NOTE_WORDS})\s*[:：][^()（）]*[)）]\s*$", re.IGNORECASE)
_LABEL = re.compile(r"^[A-Za-z][A-Za-z ]{1,30}(?:\s*\([^()\n]{1,30}\))?\s*[:：]\s*")
_MARKDOWN_PREFIX = re.compile(r"^(?:#{1,6}\s+|[*_]{1,3}(?=\S))")
_QUOTES = ('"', '"'), ("“", "”"), ("„", "“"), ("«", "»"), ("「", "」"), ("'", "'")
_NAMES = frozenset(name.lower() for name in LANGUAGE_NAMES.values())


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def _quoted(text: str) -> bool:
    text = text.strip()
    return len(text) > 1 and any(text.startswith(a) and text.endswith(b) for a, b in _QUOTES)


def _bold(text: str) -> bool:
    text = text.strip()
    return len(text) > 4 and text[:2] in ("**", "__") and text.endswith(text[:2])


def _language_label(line: str) -> str | None:
    """A leading "Portuguese:" / "Portuguese (Portugal):" label naming a language, or None."""
    match = _LABEL.match(line)
    if match and match.group().split("(")[0].strip(" :：").lower() in _NAMES:
        return match.group().strip()
    return None


def extra_text_reason(response: str, src: str | None = None) -> str | None:
    """Why `response` holds more than a translation (preamble, note, wrapper, label), or None.

    Each pattern is ignored when the source itself has it at the same place (a source that
    starts with "Note:" may be translated as "Nota:").
    """
    lines, src_lines = _lines(response), _lines(src or "")
    if not lines:
        return "empty output"
    first, last = _MARKDOWN_PREFIX.sub("", lines[0]), lines[-1]
    src_first, src_last = (_MARKDOWN_PREFIX.sub("", src_lines[0]), src_lines[-1]) if src_lines else ("", "")
    if _PREAMBLES.search(first) and not _PREAMBLES.search(src_first):
        return f"preamble {lines[0][:40]!r}"
    label = _language_label(first)
    if label and not _language_label(src_first):
        return f"language label {label!r}"
    if len(lines) > 1 and _NOTES.search(last) and not _NOTES.search(src_last):
        return f"trailing note {last[:40]!r}"
    if _TRAILING_NOTE.search(last) and not _TRAILING_NOTE.search(src_last):
        return f"trailing note {_TRAILING_NOTE.search(last).group()[:40]!r}"  # type: ignore[union-attr]
    if _quoted(response) and not _quoted(src or ""):
        return "wrapped in quotes"
    if response.strip().startswith("```") and not (src or "").strip().startswith("```"):
        return "wrapped in a code fence"
    if _bold(response) and not _bold(src or ""):
        return "wrapped in bold markup"
    if lines[0].startswith("#") and not (src_lines and src_lines[0].startswith("#")):
        return f"markdown heading {lines[0][:40]!r}"
    return None


@check("translation:no_extra_text", _OPTIONAL_SRC)
def no_extra_text(response: str, *, src: str | None = None) -> bool:
    """No preamble, language label, trailing note, or wrapper (quotes, code fence, bold) that the source lacks."""
    return extra_text_reason(response, src) is None


def strip_markup(text: str) -> str:
    """`text` without URLs, e-mail addresses, tags and placeholders (numbers stay)."""
    for pattern in (_URL, _TAG, _PLACEHOLDER):
        text = pattern.sub(" ", text)
    return text


def strip_protected(text: str) -> str:
    """`text` without URLs, e-mail addresses, tags, placeholders and numbers (kept as is by translators)."""
    return _NUMBER.sub(" ", strip_markup(text))
