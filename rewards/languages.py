"""The one language table: codes, English names, writing systems, and the Tower+ translation prompt.

Why one table: prompt templates (pretrain_sft), the language detector and constraint specs
(rewards.instructions), and the translation rewards and guards all turn a language code into a
name or a script. Each used to keep its own table and they drifted (one knew Icelandic, another
Marathi). This module is at the bottom layer (it imports nothing from the project), so all of
them can use it.

- `LANGUAGE_NAMES`: ISO 639-1 codes (plus a few ISO 639-3 codes for languages without one:
  `fil`, `yue`) -> English name. Covers the 22 Tower+ languages, the 30 IFEval response languages
  and the scripts the offline detector tells apart.
- `ALIASES`: ISO 639-2/3 codes that datasets use instead (`deu`, `por`, `zho`, `cmn`, ...).
- `SUBTAG_NAMES`: script and region subtags (`Hant`, `BR`, `419`) -> words for names.
- `SCRIPTS`: code -> the writing systems the language is normally written in, with the script
  names of `rewards.instructions.segmentation.script_of` ("Latin", "Han", "Hiragana", ...).

`base_code` reads anything a user writes ("pt-BR", "pt_br", "por", "Portuguese",
"Portuguese (Brazil)") as a base code, or None. `language_name` gives the English name of a tag
with its subtags ("Portuguese (Brazil)") and raises ValueError for unknown codes, never a guess.

`TOWERPLUS_TEMPLATE` is the translation request of the released Tower+ models (model card of
Unbabel/Tower-Plus-2B), sent as one user turn through the chat template; `towerplus_prompt`
fills it with language names.

Not covered: language variants beyond a subtag (e.g. "European Portuguese" is not read; write
pt-PT), macrolanguage subtleties (`no` vs `nb`/`nn` are separate entries), scripts of languages
missing from `SCRIPTS` (their script check is skipped by callers).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

LANGUAGE_NAMES: dict[str, str] = {
    "am": "Amharic",
    "ar": "Arabic",
    "bg": "Bulgarian",
    "bn": "Bengali",
    "bo": "Tibetan",
    "ca": "Catalan",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "ga": "Irish",
    "gl": "Galician",
    "gu": "Gujarati",
    "he": "Hebrew",
    "hi": "Hindi",
    "hr": "Croatian",
    "hu": "Hungarian",
    "hy": "Armenian",
    "id": "Indonesian",
    "is": "Icelandic",
    "it": "Italian",
    "ja": "Japanese",
    "ka": "Georgian",
    "km": "Khmer",
    "kn": "Kannada",
    "ko": "Korean",
    "lo": "Lao",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "ml": "Malayalam",
    "mr": "Marathi",
    "ms": "Malay",
    "mt": "Maltese",
    "my": "Burmese",
    "nb": "Norwegian Bokmål",
    "ne": "Nepali",
    "nl": "Dutch",
    "nn": "Norwegian Nynorsk",
    "no": "Norwegian",
    "or": "Odia",
    "pa": "Punjabi",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "si": "Sinhala",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sr": "Serbian",
    "sv": "Swedish",
    "sw": "Swahili",
    "ta": "Tamil",
    "te": "Telugu",
    "th": "Thai",
    "tl": "Tagalog",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "vi": "Vietnamese",
    "zh": "Chinese",
    "fil": "Filipino",
    "yue": "Cantonese",
}

ALIASES: dict[str, str] = {
    "eng": "en",
    "deu": "de",
    "ger": "de",
    "fra": "fr",
    "fre": "fr",
    "spa": "es",
    "por": "pt",
    "ita": "it",
    "nld": "nl",
    "dut": "nl",
    "rus": "ru",
    "ukr": "uk",
    "zho": "zh",
    "chi": "zh",
    "cmn": "zh",
    "jpn": "ja",
    "kor": "ko",
    "ara": "ar",
    "arb": "ar",
    "hin": "hi",
    "ell": "el",
    "gre": "el",
    "heb": "he",
    "iw": "he",
    "tur": "tr",
    "pol": "pl",
    "ces": "cs",
    "cze": "cs",
    "swe": "sv",
    "dan": "da",
    "nor": "no",
    "nob": "nb",
    "nno": "nn",
    "isl": "is",
    "ice": "is",
    "tha": "th",
    "vie": "vi",
    "ind": "id",
    "msa": "ms",
    "zsm": "ms",
    "pes": "fa",
    "fas": "fa",
    "per": "fa",
    "ben": "bn",
    "ron": "ro",
    "rum": "ro",
    "hun": "hu",
    "fin": "fi",
    "bul": "bg",
    "cat": "ca",
    "slk": "sk",
    "slo": "sk",
    "slv": "sl",
    "hrv": "hr",
    "srp": "sr",
    "est": "et",
    "lav": "lv",
    "lit": "lt",
    "urd": "ur",
    "tam": "ta",
    "swa": "sw",
    "swh": "sw",
    "tgl": "tl",
}

SUBTAG_NAMES: dict[str, str] = {
    "Hans": "Simplified",
    "Hant": "Traditional",
    "Latn": "Latin script",
    "Cyrl": "Cyrillic script",
    "AR": "Argentina",
    "AT": "Austria",
    "AU": "Australia",
    "BE": "Belgium",
    "BR": "Brazil",
    "CA": "Canada",
    "CH": "Switzerland",
    "CN": "China",
    "DE": "Germany",
    "ES": "Spain",
    "FR": "France",
    "GB": "United Kingdom",
    "HK": "Hong Kong",
    "IN": "India",
    "MX": "Mexico",
    "PT": "Portugal",
    "SG": "Singapore",
    "TW": "Taiwan",
    "US": "United States",
    "419": "Latin America",
}

_SCRIPT_LANGUAGES: dict[str, str] = {
    "Latin": "en de fr es pt it nl pl cs sk sl hr ro hu fi et lv lt sv da no nb nn is ga ca gl "
    "tr id ms vi tl fil sw mt",
    "Cyrillic": "ru uk bg",
    "Greek": "el",
    "Armenian": "hy",
    "Georgian": "ka",
    "Hebrew": "he",
    "Arabic": "ar fa ur",
    "Devanagari": "hi mr ne",
    "Bengali": "bn",
    "Gurmukhi": "pa",
    "Gujarati": "gu",
    "Oriya": "or",
    "Tamil": "ta",
    "Telugu": "te",
    "Kannada": "kn",
    "Malayalam": "ml",
    "Sinhala": "si",
    "Thai": "th",
    "Lao": "lo",
    "Khmer": "km",
    "Myanmar": "my",
    "Tibetan": "bo",
    "Ethiopic": "am",
    "Hangul": "ko",
    "Han": "zh yue ja ko",
    "Hiragana": "ja",
    "Katakana": "ja",
}


def _scripts() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for script, codes in _SCRIPT_LANGUAGES.items():
        for code in codes.split():
            table.setdefault(code, set()).add(script)
    table["sr"] = {"Latin", "Cyrillic"}
    return {code: frozenset(scripts) for code, scripts in table.items()}


SCRIPTS: dict[str, frozenset[str]] = _scripts()
_BY_NAME = {name.lower(): code for code, name in LANGUAGE_NAMES.items()}

TOWERPLUS_TEMPLATE = "Translate the following {src_lang} source text to {tgt_lang}:\n{src_lang}: {src}\n{tgt_lang}: "


def split_tag(value: str) -> tuple[str, list[str]]:
    """'pt_br' -> ('pt', ['BR']); 'zh-hant' -> ('zh', ['Hant']): base lowercased, subtags in BCP 47 case."""
    parts = value.strip().replace("_", "-").split("-")
    subtags = [part.title() if len(part) == 4 else part.upper() for part in parts[1:] if part]
    return parts[0].lower(), subtags


def base_code(value: object) -> str | None:
    """The base code of a language tag, alias or English name; None when it is not one we know.

    >>> [base_code(v) for v in ("pt-BR", "por", "German", "Portuguese (Brazil)", "xx")]
    ['pt', 'pt', 'de', 'pt', None]
    """
    if not isinstance(value, str) or not value.strip():
        return None
    return _base_code(value.strip())


@lru_cache(maxsize=4096)
def _base_code(text: str) -> str | None:
    base, _ = split_tag(text)
    base = ALIASES.get(base, base)
    if base in LANGUAGE_NAMES:
        return base
    name = text.split("(")[0].strip().lower()
    return _BY_NAME.get(name)


def language_name(code: str, names: Mapping[str, str] | None = None) -> str:
    """English name for a tag such as "pt", "pt-BR", "zh_Hant"; raises ValueError if unknown.

    `names` adds or overrides entries (`{"xx": "Klingon"}`, `{"pt-PT": "European Portuguese"}`).
    A full English name ("Portuguese") is returned as written in the table.
    """
    if not isinstance(code, str) or not code.strip():
        raise ValueError(f"language code must be a non-empty string, got {code!r}")
    table = {**LANGUAGE_NAMES, **(names or {})}
    if code in table:
        return table[code]
    base, subtags = split_tag(code)
    full = "-".join([base, *subtags])
    if full in table:
        return table[full]
    known_names = {name.lower(): name for name in table.values()}
    if code.strip().lower() in known_names:
        return known_names[code.strip().lower()]
    base = ALIASES.get(base, base)
    if base not in table:
        raise ValueError(f"unknown language code {code!r}; add it with names={{{code!r}: 'Name'}}")
    unknown = [tag for tag in subtags if tag not in SUBTAG_NAMES]
    if unknown:
        raise ValueError(f"unknown script/region subtag {unknown[0]!r} in {code!r}; add {full!r} to names")
    if not subtags:
        return table[base]
    return f"{table[base]} ({', '.join(SUBTAG_NAMES[tag] for tag in subtags)})"


def language_scripts(value: object) -> frozenset[str] | None:
    """The scripts a language is written in; None for languages not in `SCRIPTS`."""
    code = base_code(value)
    return SCRIPTS.get(code) if code else None


def towerplus_prompt(src: str, src_lang: str, tgt_lang: str, names: Mapping[str, str] | None = None) -> str:
    """The Tower+ translation request for `src` with language names, e.g.

    >>> print(towerplus_prompt("Hello world!", "en", "pt-PT"))
    Translate the following English source text to Portuguese (Portugal):
    English: Hello world!
    Portuguese (Portugal):\x20
    """
    return TOWERPLUS_TEMPLATE.format(
        src=src, src_lang=language_name(src_lang, names), tgt_lang=language_name(tgt_lang, names)
    )
