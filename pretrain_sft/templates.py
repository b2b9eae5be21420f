"""Translation prompt templates and language names from ISO codes.

Why: parallel data (`{"src","tgt","src_lang","tgt_lang"}`) becomes text for CPT and chat turns
for SFT. Tower-style training uses several phrasings so the model does not overfit one prompt;
the phrasing of a row is chosen by a stable hash of (seed, tgt_lang, src), so it is the same in
every process and every run, whatever order the rows arrive in.

Language codes: ISO 639-1 (`pt`), a few ISO 639-3 codes for languages without one (`yue`, `fil`),
optionally with a script or region subtag (`pt-BR`, `pt_br`, `zh-Hant`) -> "Portuguese (Brazil)",
"Chinese (Traditional)". A full English name ("Portuguese") is accepted as is. Unknown codes are
an error, never a guess: pass `names={"xx": "Name"}` to add one.

The language table itself lives in `rewards.languages` (one table for templates, rewards and
constraint checks); `LANGUAGE_NAMES` and `language_name` are re-exported here.

Not covered: prompts in languages other than English, document-level or few-shot templates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from rewards.languages import LANGUAGE_NAMES, SUBTAG_NAMES, TOWERPLUS_TEMPLATE, language_name

__all__ = [
    "LANGUAGE_NAMES",
    "SUBTAG_NAMES",
    "TOWERPLUS_TEMPLATE",
    "TRANSLATION_TEMPLATES",
    "language_name",
    "template_index",
    "translation_prompt",
    "translation_text",
]

# Placeholders: {src}, {src_lang}, {tgt_lang} (language names, not codes). Each ends where the
# translation starts. The first is the released Tower+ models' own request (see rewards.languages).
TRANSLATION_TEMPLATES: tuple[str, ...] = (
    TOWERPLUS_TEMPLATE,
    "Translate the following {src_lang} text into {tgt_lang}.\n{src_lang}: {src}\n{tgt_lang}:",
    "Translate this from {src_lang} to {tgt_lang}:\n{src_lang}: {src}\n{tgt_lang}:",
    "{src_lang}: {src}\n{tgt_lang}:",
    "Please provide the {tgt_lang} translation of the following {src_lang} text.\n\n{src}\n\nTranslation:",
    "What is the {tgt_lang} translation of this {src_lang} text?\n{src}\nAnswer:",
    "Render the {src_lang} text below in {tgt_lang}. Reply with the translation only.\n\n{src}",
)


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

    The target is preceded by a space after a "Label:" line end (a prompt ending in ": ", like
    the Tower+ request, loses its trailing space to the target so the target tokenizes as it
    would in running text) and by a newline otherwise; the split point lets callers mask the
    prompt.
    """
    if prompt.endswith(": "):
        prompt = prompt.rstrip(" ")
    separator = " " if prompt.endswith(":") else "\n"
    return prompt, separator + tgt
