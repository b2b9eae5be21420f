"""Translation prompt templates and language names from ISO codes.

Why: parallel data (`{"src","tgt","src_lang","tgt_lang"}`) becomes text for CPT and chat turns
for SFT. Tower-style training uses several phrasings so the model does not overfit one prompt;
the phrasing of a row is chosen by a stable hash of (seed, tgt_lang, src), so it is the same in
every process and every run, whatever order the rows arrive in.

Language codes: ISO 639-1 (`pt`), a few ISO 639-3 codes for languages without one (`yue`, `fil`),
optionally with a script or region subtag (`pt-BR`, `pt_br`, `zh-Hant`) -> "Portuguese (Brazil)",
"Chinese (Traditional)". A full English name ("Portuguese") is accepted as is. Unknown codes are
an error, never a guess: pass `names={"xx": "Name"}` to add one.

Not covered: prompts in languages other than English, document-level or few-shot templates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech",
    "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish",
    "et": "Estonian", "fa": "Persian", "fi": "Finnish", "fr": "French", "ga": "Irish",
    "gl": "Galician", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian",
    "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "lt": "Lithuanian", "lv": "Latvian", "ms": "Malay", "mt": "Maltese", "nb": "Norwegian Bokmål",
    "nl": "Dutch", "nn": "Norwegian Nynorsk", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian",
    "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "th": "Thai", "tl": "Tagalog",
    "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
    "fil": "Filipino", "yue": "Cantonese",
}

SUBTAG_NAMES: dict[str, str] = {
    "Hans": "Simplified", "Hant": "Traditional", "Latn": "Latin script", "Cyrl": "Cyrillic script",
    "AR": "Argentina", "AT": "Austria", "AU": "Australia", "BE": "Belgium", "BR": "Brazil",
    "CA": "Canada", "CH": "Switzerland", "CN": "China", "DE": "Germany", "ES": "Spain",
    "FR": "France", "GB": "United Kingdom", "HK": "Hong Kong", "IN": "India", "MX": "Mexico",
    "PT": "Portugal", "SG": "Singapore", "TW": "Taiwan", "US": "United States", "419": "Latin America",
}

# Placeholders: {src}, {src_lang}, {tgt_lang} (language names, not codes). Each ends where the
# translation starts.
TRANSLATION_TEMPLATES: tuple[str, ...] = (
    "Translate the following {src_lang} text into {tgt_lang}.\n{src_lang}: {src}\n{tgt_lang}:",
    "Translate this from {src_lang} to {tgt_lang}:\n{src_lang}: {src}\n{tgt_lang}:",
    "{src_lang}: {src}\n{tgt_lang}:",
    "Please provide the {tgt_lang} translation of the following {src_lang} text.\n\n{src}\n\nTranslation:",
    "What is the {tgt_lang} translation of this {src_lang} text?\n{src}\nAnswer:",
    "Render the {src_lang} text below in {tgt_lang}. Reply with the translation only.\n\n{src}",
)


def _normalize_code(code: str) -> tuple[str, list[str]]:
    parts = code.strip().replace("_", "-").split("-")
    base = parts[0].lower()
    subtags = [part.title() if len(part) == 4 else part.upper() for part in parts[1:]]
    return base, subtags


def language_name(code: str, names: Mapping[str, str] | None = None) -> str:
    """English name for an ISO code such as "pt", "pt-BR", "zh_Hant"; raises ValueError if unknown."""
    if not isinstance(code, str) or not code.strip():
        raise ValueError(f"language code must be a non-empty string, got {code!r}")
    table = {**LANGUAGE_NAMES, **(names or {})}
    if code in table:
        return table[code]
    base, subtags = _normalize_code(code)
    full = "-".join([base, *subtags])
    if full in table:
        return table[full]
    known_names = {name.lower(): name for name in table.values()}
    if code.strip().lower() in known_names:
        return known_names[code.strip().lower()]
    if base not in table:
        raise ValueError(f"unknown language code {code!r}; add it with names={{{code!r}: 'Name'}}")
    unknown = [tag for tag in subtags if tag not in SUBTAG_NAMES]
    if unknown:
        raise ValueError(f"unknown script/region subtag {unknown[0]!r} in {code!r}; add {full!r} to names")
    if not subtags:
        return table[base]
    return f"{table[base]} ({', '.join(SUBTAG_NAMES[tag] for tag in subtags)})"


def template_index(seed: int, key: str, count: int) -> int:
    """Stable choice in [0, count) for (seed, key): the same in every process and Python version."""
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % count


def translation_prompt(
    src: str,
    src_lang: str,
    tgt_lang: str,
    *,
    seed: int = 0,
    templates: Sequence[str] = TRANSLATION_TEMPLATES,
    names: Mapping[str, str] | None = None,
) -> str:
    """The prompt asking to translate `src`; the phrasing is picked by (seed, tgt_lang, src).

    The prompt ends where the translation starts; `translation_text` joins the two for CPT.
    """
    if not templates:
        raise ValueError("need at least one template")
    template = templates[template_index(seed, f"{tgt_lang}\x00{src}", len(templates))]
    return template.format(src=src, src_lang=language_name(src_lang, names), tgt_lang=language_name(tgt_lang, names))


def translation_text(prompt: str, tgt: str) -> tuple[str, str]:
    """(prompt part, target part) of a parallel pair written as one CPT document.

    The target is preceded by a space after a "Label:" line end and by a newline otherwise, so
    the document reads naturally; the split point lets callers mask the prompt.
    """
    separator = " " if prompt.endswith(":") else "\n"
    return prompt, separator + tgt
