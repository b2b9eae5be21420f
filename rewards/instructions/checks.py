"""The 25 IFEval instruction types as small checkers, written from the instruction definitions.

Each checker takes the response and the instruction's IFEval arguments and returns a bool.
Where the check depends on language it uses `segmentation` and `language` instead of NLTK and
langdetect; where it does not, it follows IFEval's rule, quirks included, so that numbers stay
comparable with published IFEval scores. Deliberate differences from IFEval (all of which only
matter outside plain English text):

- length_constraints:number_sentences / number_words: multilingual splitting and counting
  (see `segmentation`): CJK full stops end sentences, Han/kana characters count as words, and a
  text detected as one of 19 European languages is split with that language's Punkt model
  (English text gets IFEval's English model).
- language:response_language, change_case:english_*: the offline detector in `language`
  (fastText + lingua) instead of langdetect, which misreads all-caps text; a text without any
  letter (undecided) fails the check, where IFEval passes it.
- keywords:* treat keywords literally (IFEval passes them to `re` unescaped); forbidden_words
  uses word boundaries only at edges written in a spaced script, so it works for Chinese terms.
- keywords:letter_frequency accepts any single character ("ä", "я"), case-insensitive.
- length_constraints:nth_paragraph_first_word also cuts the first word at CJK and typographic
  punctuation (`：，“」` ...; ASCII `:;` stay part of the word, as in IFEval), and a
  Chinese/Japanese/Thai first word only has to start the paragraph.
- punctuation:no_comma also rejects the fullwidth `，`, ideographic `、` and Arabic `،` commas.
- startend:quotation also accepts typographic double quotes (“…”, „…“, «…», 『…』, 「…」).
- startend:end_checker also ignores closing typographic quotes (“ ”) after the phrase.
- detectable_format:title also accepts Chinese title marks 《…》.
- detectable_format:constrained_response takes an optional `options` list (e.g. translated
  answers); the default is IFEval's three English options.

Not covered: IFEval's unused types (rephrase, key sentences, constrained start). IFEval quirks
kept on purpose: keyword existence/frequency match substrings ("art" counts in "start"); a
`---` line counts as a bullet; section splitters are case-sensitive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from rewards.instructions.language import detect_language
from rewards.instructions.segmentation import (
    CJK_SCRIPTS,
    UNSPACED_SCRIPTS,
    count_sentences,
    count_words,
    script_of,
    term_pattern,
)
from rewards.instructions.spec import RELATIONS, Arg, check

IFEVAL_CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")
_COMMAS = ",，、،﹐"
_QUOTE_PAIRS = (('"', '"'), ("“", "”"), ("„", "“"), ("„", "”"), ("«", "»"), ("»", "«"), ("『", "』"), ("「", "」"))
_FIRST_WORD_STOP = set(".,?!'\"。，、？！：；“”‘’«»…")


def compare(count: int, relation: str, threshold: int) -> bool:
    """IFEval's two relations: 'less than' is count < threshold, 'at least' is count >= threshold."""
    return count < threshold if relation == RELATIONS[0] else count >= threshold


# --- keywords -------------------------------------------------------------------------------


@check("keywords:existence", Arg("keywords", "str_list"))
def keywords_existence(response: str, *, keywords: list[str]) -> bool:
    return all(re.search(re.escape(k), response, re.IGNORECASE) for k in keywords)


@check("keywords:frequency", Arg("keyword", "str"), Arg("frequency", "int"), Arg("relation", "relation"))
def keywords_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> bool:
    count = len(re.findall(re.escape(keyword.strip()), response, re.IGNORECASE))
    return compare(count, relation, frequency)


@check("keywords:forbidden_words", Arg("forbidden_words", "str_list"))
def keywords_forbidden_words(response: str, *, forbidden_words: list[str]) -> bool:
    return not any(term_pattern(w).search(response) for w in forbidden_words)


@check(
    "keywords:letter_frequency",
    Arg("letter", "letter"),
    Arg("let_frequency", "int"),
    Arg("let_relation", "relation"),
)
def keywords_letter_frequency(response: str, *, letter: str, let_frequency: int, let_relation: str) -> bool:
    return compare(response.lower().count(letter), let_relation, let_frequency)


# --- language and case ----------------------------------------------------------------------


@check("language:response_language", Arg("language", "language"))
def response_language(response: str, *, language: str) -> bool:
    return detect_language(response) == language


@check("change_case:english_capital")
def english_capital(response: str) -> bool:
    """All cased letters are capitals and the text is English (Latin-script English only)."""
    return response.isupper() and detect_language(response) == "en"


@check("change_case:english_lowercase")
def english_lowercase(response: str) -> bool:
    """All cased letters are lowercase and the text is English (Latin-script English only)."""
    return response.islower() and detect_language(response) == "en"


# Word tokens as NLTK's Treebank tokenizer (IFEval's `word_tokenize`) cuts them, as far as case
# is concerned: it isolates brackets, quotes, `; @ # $ % & ? ! *`, `...`, `--` and a `,`/`:` not
# followed by a digit, and splits clitics off a word's end ("I'm" -> "I" "'m", "DON'T" ->
# "DO" "N'T", "CANNOT" -> "CAN" "NOT"). Hyphens, slashes and inner periods stay inside a word.
_TREEBANK_SEPARATORS = re.compile(r"""\s+|\.{2,}|--|[;@#$%&?!*()\[\]{}<>"«»“”‘’„`]|[,:](?!\d)""")
_CLITIC = re.compile(r"(?<=[^' ])(?:'[sSmMdD]|'ll|'LL|'re|'RE|'ve|'VE|n't|N'T)$")
_SPLIT_WORDS = re.compile(r"(?i)^(?:(can)(not)|(gim)(me)|(gon)(na)|(got)(ta)|(lem)(me)|(more)('n)|(wan)(na)|(d)('ye))$")


def treebank_words(text: str) -> list[str]:
    """The word tokens IFEval's capital-word count sees (punctuation-only tokens dropped)."""
    out = []
    for token in _TREEBANK_SEPARATORS.split(text):
        if not token:
            continue
        clitic = _CLITIC.search(token)
        if clitic:
            out += [token[: clitic.start()], clitic.group()]
            continue
        pair = _SPLIT_WORDS.match(token)
        out += [p for p in pair.groups() if p] if pair else [token]
    return out


@check("change_case:capital_word_frequency", Arg("capital_frequency", "int"), Arg("capital_relation", "relation"))
def capital_word_frequency(response: str, *, capital_frequency: int, capital_relation: str) -> bool:
    """Tokens written in capitals, tokenized as IFEval does; scripts without case never count."""
    capitals = sum(1 for w in treebank_words(response) if w.isupper())
    return compare(capitals, capital_relation, capital_frequency)


# --- length ---------------------------------------------------------------------------------


@check("length_constraints:number_sentences", Arg("num_sentences", "int"), Arg("relation", "relation"))
def number_sentences(response: str, *, num_sentences: int, relation: str) -> bool:
    return compare(count_sentences(response, detect_language(response)), relation, num_sentences)


@check("length_constraints:number_words", Arg("num_words", "int"), Arg("relation", "relation"))
def number_words(response: str, *, num_words: int, relation: str) -> bool:
    return compare(count_words(response), relation, num_words)


@check("length_constraints:number_paragraphs", Arg("num_paragraphs", "int"))
def number_paragraphs(response: str, *, num_paragraphs: int) -> bool:
    """Paragraphs are separated by the markdown divider `***`; an empty inner one fails."""
    parts = re.split(r"\s?\*\*\*\s?", response)
    count = len(parts)
    for i, part in enumerate(parts):
        if not part.strip():
            if i in (0, len(parts) - 1):
                count -= 1
            else:
                return False
    return count == num_paragraphs


def _first_word(paragraph: str) -> str:
    token = paragraph.split()[0].lstrip("'").lstrip('"')
    word = []
    for char in token:
        if char in _FIRST_WORD_STOP:
            break
        word.append(char)
    return "".join(word).lower()


def _is_unspaced(word: str) -> bool:
    return bool(word) and script_of(word[0]) in CJK_SCRIPTS | UNSPACED_SCRIPTS


@check(
    "length_constraints:nth_paragraph_first_word",
    Arg("num_paragraphs", "int"),
    Arg("nth_paragraph", "int"),
    Arg("first_word", "str"),
)
def nth_paragraph_first_word(response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str) -> bool:
    """Exactly `num_paragraphs` paragraphs split by blank lines; paragraph n starts with the word."""
    paragraphs = re.split(r"\n\n", response)
    count = sum(1 for p in paragraphs if p.strip())
    if not 1 <= nth_paragraph <= count:
        return False
    paragraph = paragraphs[nth_paragraph - 1].strip()
    if not paragraph:
        return False
    wanted = first_word.strip().lower()
    found = _first_word(paragraph)
    matches = found == wanted or (_is_unspaced(wanted) and found.startswith(wanted))
    return count == num_paragraphs and matches


# --- detectable content and format ----------------------------------------------------------


def count_placeholders(text: str) -> int:
    """IFEval's `len(re.findall(r"\\[.*?\\]", text))` in linear time (that regex is quadratic on "[[[[")."""
    count = 0
    for line in text.split("\n"):
        start = line.find("[")
        while start >= 0:
            end = line.find("]", start + 1)
            if end < 0:
                break  # no "]" after this "[" on the line, so none after a later "[" either
            count += 1
            start = line.find("[", end + 1)
    return count


@check("detectable_content:number_placeholders", Arg("num_placeholders", "int"))
def number_placeholders(response: str, *, num_placeholders: int) -> bool:
    return count_placeholders(response) >= num_placeholders


@check("detectable_content:postscript", Arg("postscript_marker", "str"))
def postscript(response: str, *, postscript_marker: str) -> bool:
    """A line starting with the marker; "P.S." and "P.P.S" allow a space after each period."""
    marker = postscript_marker.strip()
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return re.search(pattern, response.lower(), re.MULTILINE) is not None


@check("detectable_format:number_bullet_lists", Arg("num_bullets", "int"))
def number_bullet_lists(response: str, *, num_bullets: int) -> bool:
    """Exactly n markdown bullet lines (`* item` or `- item`)."""
    stars = re.findall(r"^\s*\*[^\*].*$", response, re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", response, re.MULTILINE)
    return len(stars) + len(dashes) == num_bullets


@check("detectable_format:constrained_response", Arg("options", "str_list", required=False))
def constrained_response(response: str, *, options: Sequence[str] = IFEVAL_CONSTRAINED_OPTIONS) -> bool:
    text = response.strip()
    return any(option in text for option in options)


@check("detectable_format:number_highlighted_sections", Arg("num_highlights", "int"))
def number_highlighted_sections(response: str, *, num_highlights: int) -> bool:
    """Non-empty `*highlighted*` spans; a `**bold**` span counts as well (as in IFEval)."""
    single = [h for h in re.findall(r"\*[^\n\*]*\*", response) if h.strip("*").strip()]
    double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", response) if h[2:-2].strip()]
    return len(single) + len(double) >= num_highlights


@check("detectable_format:multiple_sections", Arg("section_spliter", "str"), Arg("num_sections", "int"))
def multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> bool:
    """At least n sections, each opened by the splitter and a number ("SECTION 1")."""
    pattern = r"\s?" + re.escape(section_spliter.strip()) + r"\s?\d+\s?"
    return len(re.split(pattern, response)) - 1 >= num_sections


@check("detectable_format:json_format")
def json_format(response: str) -> bool:
    text = response.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        text = text.removeprefix(fence)
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)
    except (ValueError, RecursionError):  # "[[[[..." nests past the parser's recursion limit
        return False
    return True


def angle_titles(text: str) -> list[str]:
    """IFEval's `re.findall(r"<<[^\\n]+>>", text)` in linear time (that regex is quadratic on "<<<<").

    Its greedy match runs from a line's first `<<` to the line's last `>>`, so a line holds at
    most one title.
    """
    titles = []
    for line in text.split("\n"):
        start, end = line.find("<<"), line.rfind(">>")
        if start >= 0 and end >= start + 3:
            titles.append(line[start : end + 2])
    return titles


@check("detectable_format:title")
def title(response: str) -> bool:
    """A non-empty title in double angular brackets: <<title>> (or the Chinese 《title》)."""
    titles = angle_titles(response) + re.findall(r"《([^\n《》]+)》", response)
    return any(t.lstrip("<").rstrip(">").strip() for t in titles)


# --- combination, start/end, punctuation ----------------------------------------------------


@check("combination:two_responses")
def two_responses(response: str) -> bool:
    """Exactly two different, non-empty responses separated by `******`."""
    parts = response.split("******")
    kept = []
    for i, part in enumerate(parts):
        if part.strip():
            kept.append(part.strip())
        elif i not in (0, len(parts) - 1):
            return False
    return len(kept) == 2 and kept[0] != kept[1]


@check("combination:repeat_prompt", Arg("prompt_to_repeat", "str", column="prompt"))
def repeat_prompt(response: str, *, prompt_to_repeat: str) -> bool:
    """The response starts with the request, word for word (case-insensitive)."""
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


@check("startend:end_checker", Arg("end_phrase", "str"))
def end_checker(response: str, *, end_phrase: str) -> bool:
    text = response.strip().strip('"“”').lower()
    return text.endswith(end_phrase.strip().lower())


@check("startend:quotation")
def quotation(response: str) -> bool:
    text = response.strip()
    return len(text) > 1 and any(text[0] == a and text[-1] == b for a, b in _QUOTE_PAIRS)


@check("punctuation:no_comma")
def no_comma(response: str) -> bool:
    return not any(c in _COMMAS for c in response)


IFEVAL_TYPES = (
    "keywords:existence",
    "keywords:frequency",
    "keywords:forbidden_words",
    "keywords:letter_frequency",
    "language:response_language",
    "length_constraints:number_sentences",
    "length_constraints:number_paragraphs",
    "length_constraints:number_words",
    "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders",
    "detectable_content:postscript",
    "detectable_format:number_bullet_lists",
    "detectable_format:constrained_response",
    "detectable_format:number_highlighted_sections",
    "detectable_format:multiple_sections",
    "detectable_format:json_format",
    "detectable_format:title",
    "combination:two_responses",
    "combination:repeat_prompt",
    "startend:end_checker",
    "change_case:capital_word_frequency",
    "change_case:english_capital",
    "change_case:english_lowercase",
    "punctuation:no_comma",
    "startend:quotation",
)
