"""Translation rewards: chrF and BLEU against a reference, COMET and CometKiwi-style QE.

Why these four: chrF and BLEU are cheap, deterministic and need only a reference; COMET
(`comet`, with reference) and CometKiwi-style quality estimation (`comet_qe`, source only)
are the learned metrics the Tower+ recipe optimises against.

Scales (what the trainer sees as `score`):
- `chrf`, `bleu`: sacrebleu's sentence-level score divided by 100, so 0..1 (1 = identical to
  a reference). BLEU uses `effective_order=True`, as sacrebleu recommends for single sentences.
- `comet`, `comet_qe`: the model's raw segment score, unchanged. Released models trained on
  DA z-scores/MQM (wmt22-comet-da, wmt22-cometkiwi-da) give roughly 0..1, but nothing clips it.

Where COMET runs (the chosen design): unbabel-comet 2.2.7 needs transformers<5, numpy<2 and
huggingface-hub<1, which conflict with vLLM's environment. It lives in its own virtualenv,
`.venv-qe` (built by scripts/setup_qe_env.sh from requirements/qe.txt), and the RL job reaches
it over HTTP through this repo's reward server started under that interpreter:

    RLSYS_COMET_MODEL=/models/wmt22-comet-da RLSYS_COMET_QE_MODEL=/models/wmt22-cometkiwi-da \\
    PYTHONPATH=. .venv-qe/bin/python -m rewards.service --rewards comet,comet_qe --port 8100

This same module is imported on both sides: in the main environment (no comet) `comet` and
`comet_qe` return status `error` with a reason that points to the QE server, never a zero.
The model is loaded once per checkpoint path per process, with `local_files_only=True`
(nothing is downloaded), and scored with `predict(batch_size=..., gpus=0)` on CPU.
`model_path` is a checkpoint dir (holding `checkpoints/model.ckpt` + `hparams.yaml`) or the
`.ckpt` file; the encoder named by `pretrained_model` in hparams.yaml must be a local path or
already in the Hugging Face cache. rlsys/toy/comet_tiny.py builds a tiny offline checkpoint.

Optional target-language check (`check_language=True`, all four rewards): when a row has a
`tgt_lang` and the output is written mostly (>50 % of its letters) in a script that language
does not use, the score is 0 with status ok and reason "wrong language: expected X ...".

Not covered: the language check only sees scripts, so German written for a French target,
or Chinese for a Japanese one, passes; unknown language codes and rows without `tgt_lang` are
not checked. COMET gets the first reference when a row has several. BLEU's default `13a`
tokenizer is poor for zh/ja/ko: set `tokenize` ("zh", "char") for those. COMET scores are not
calibrated across models.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from rewards.base import RewardResult
from rewards.registry import reward

COMET_MISSING = (
    "unbabel-comet is not installed in this environment; "
    "run the QE reward server from .venv-qe (see README)"
)

# ---------------------------------------------------------------- target-language check

_SCRIPT_LANGS: dict[str, str] = {
    "Latin": "en de fr es pt it nl pl cs sk sl hr bs ro hu fi et lv lt sv da no nb nn is ga cy "
    "ca gl eu oc tr az uz id ms vi tl fil sw af sq mt lb eo ha yo ig zu xh so la",
    "Cyrillic": "ru uk be bg mk kk ky tg mn",
    "Greek": "el",
    "Armenian": "hy",
    "Georgian": "ka",
    "Hebrew": "he iw yi",
    "Arabic": "ar fa ur ps ug sd ckb",
    "Devanagari": "hi mr ne sa",
    "Bengali": "bn as",
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
    "Ethiopic": "am ti",
    "Hangul": "ko",
    "Han": "zh yue ja ko",
    "Kana": "ja",
}
_LANG_SCRIPTS: dict[str, frozenset[str]] = {}
for _script, _codes in _SCRIPT_LANGS.items():
    for _code in _codes.split():
        _LANG_SCRIPTS[_code] = _LANG_SCRIPTS.get(_code, frozenset()) | {_script}
_LANG_SCRIPTS["sr"] = frozenset({"Latin", "Cyrillic"})

# ISO 639-2/3 codes and English names that datasets use instead of ISO 639-1.
_ALIASES = {
    "eng": "en", "english": "en", "deu": "de", "ger": "de", "german": "de", "fra": "fr",
    "fre": "fr", "french": "fr", "spa": "es", "spanish": "es", "por": "pt", "portuguese": "pt",
    "ita": "it", "italian": "it", "nld": "nl", "dut": "nl", "dutch": "nl", "rus": "ru",
    "russian": "ru", "ukr": "uk", "ukrainian": "uk", "zho": "zh", "chi": "zh", "cmn": "zh",
    "chinese": "zh", "jpn": "ja", "japanese": "ja", "kor": "ko", "korean": "ko", "ara": "ar",
    "arabic": "ar", "hin": "hi", "hindi": "hi", "ell": "el", "greek": "el", "heb": "he",
    "hebrew": "he", "tur": "tr", "turkish": "tr", "pol": "pl", "polish": "pl", "ces": "cs",
    "czech": "cs", "swe": "sv", "swedish": "sv", "isl": "is", "icelandic": "is", "tha": "th",
    "thai": "th", "vie": "vi", "vietnamese": "vi", "ind": "id", "indonesian": "id",
    "pes": "fa", "fas": "fa", "persian": "fa", "ben": "bn", "bengali": "bn",
}
_UNICODE_SCRIPTS = {
    "LATIN": "Latin", "CYRILLIC": "Cyrillic", "GREEK": "Greek", "ARMENIAN": "Armenian",
    "GEORGIAN": "Georgian", "HEBREW": "Hebrew", "ARABIC": "Arabic", "DEVANAGARI": "Devanagari",
    "BENGALI": "Bengali", "GURMUKHI": "Gurmukhi", "GUJARATI": "Gujarati", "ORIYA": "Oriya",
    "TAMIL": "Tamil", "TELUGU": "Telugu", "KANNADA": "Kannada", "MALAYALAM": "Malayalam",
    "SINHALA": "Sinhala", "THAI": "Thai", "LAO": "Lao", "KHMER": "Khmer", "MYANMAR": "Myanmar",
    "TIBETAN": "Tibetan", "ETHIOPIC": "Ethiopic", "HANGUL": "Hangul", "CJK": "Han",
    "HIRAGANA": "Kana", "KATAKANA": "Kana",
}


def expected_scripts(lang: str) -> frozenset[str] | None:
    """Scripts a language is written in, from a code like 'de', 'pt-BR', 'zho' or 'German'."""
    key = lang.strip().lower().replace("_", "-").split("-")[0].split(" ")[0].split("(")[0]
    return _LANG_SCRIPTS.get(_ALIASES.get(key, key))


@lru_cache(maxsize=8192)
def _char_script(ch: str) -> str | None:
    for word in unicodedata.name(ch, "").replace("-", " ").split():
        if word in _UNICODE_SCRIPTS:
            return _UNICODE_SCRIPTS[word]
    return None


def language_mismatch(text: str, lang: Any) -> str | None:
    """A reason when `text` is obviously not in `lang` (by script); None when it may be."""
    if not isinstance(lang, str) or not lang.strip():
        return None
    expected = expected_scripts(lang)
    if expected is None:
        return None
    counts: dict[str | None, int] = {}
    for ch in text:
        if ch.isalpha():
            script = _char_script(ch)
            counts[script] = counts.get(script, 0) + 1
    total = sum(counts.values())
    matching = sum(n for script, n in counts.items() if script in expected)
    if total == 0 or matching * 2 > total:
        return None
    found = max(counts, key=counts.__getitem__) or "unknown"
    return f"wrong language: expected {lang} ({'/'.join(sorted(expected))} script), output is mostly {found}"


def _language_results(
    completions: Sequence[str], tgt_lang: Sequence[Any] | None, check_language: bool
) -> list[RewardResult | None]:
    """Score 0 (status ok) for outputs in the wrong script; None where the metric decides."""
    if not check_language or tgt_lang is None:
        return [None] * len(completions)
    out: list[RewardResult | None] = []
    for text, lang in zip(completions, tgt_lang, strict=True):
        reason = language_mismatch(text, lang)
        out.append(RewardResult.ok(0.0, reason) if reason else None)
    return out


def _references(value: Any) -> list[str] | None:
    """A row's reference(s) as a non-empty list of strings, or None when there is none."""
    refs = [value] if isinstance(value, str) else list(value or [])
    refs = [r for r in refs if isinstance(r, str) and r.strip()]
    return refs or None


# ---------------------------------------------------------------- chrF and BLEU


def _sentence_scores(
    metric: Any, completions: Sequence[str], reference: Sequence[Any], tgt_lang: Any, check_language: bool
) -> list[RewardResult]:
    results = _language_results(completions, tgt_lang, check_language)
    for i, (text, ref) in enumerate(zip(completions, reference, strict=True)):
        if results[i] is not None:
            continue
        refs = _references(ref)
        if refs is None:
            results[i] = RewardResult.not_applicable(f"row {i}: column 'reference' is empty")
        else:
            value = metric.sentence_score(text, refs).score / 100.0
            results[i] = RewardResult.ok(min(1.0, max(0.0, value)))  # sacrebleu may give 100.00000000000004
    return results  # type: ignore[return-value]


@reward("chrf", columns=("reference",), optional=("tgt_lang",), description="chrF vs reference (sacrebleu), 0..1.")
def chrf(
    completions: list[str],
    reference: Sequence[Any],
    *,
    tgt_lang: Sequence[Any] | None = None,
    word_order: int = 0,
    check_language: bool = False,
    **_: Any,
) -> list[RewardResult]:
    """Sentence chrF (chrF++ with `word_order=2`) / 100; `reference` is a string or a list of them.

    >>> chrf(["Die Katze schläft."], reference=["Die Katze schläft."])[0].score
    1.0
    """
    from sacrebleu.metrics import CHRF

    return _sentence_scores(CHRF(word_order=word_order), completions, reference, tgt_lang, check_language)


@reward("bleu", columns=("reference",), optional=("tgt_lang",), description="Sentence BLEU vs reference (sacrebleu), 0..1.")
def bleu(
    completions: list[str],
    reference: Sequence[Any],
    *,
    tgt_lang: Sequence[Any] | None = None,
    tokenize: str = "13a",
    check_language: bool = False,
    **_: Any,
) -> list[RewardResult]:
    """Sentence BLEU (effective order, exp smoothing) / 100; `tokenize` is sacrebleu's tokenizer name."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(tokenize=tokenize, effective_order=True)
    return _sentence_scores(metric, completions, reference, tgt_lang, check_language)


# ---------------------------------------------------------------- COMET

_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()  # one load / predict at a time: each predict builds its own Lightning Trainer


def _checkpoint_file(model_path: str) -> str:
    path = Path(model_path).expanduser()
    ckpt = path / "checkpoints" / "model.ckpt" if path.is_dir() else path
    if not ckpt.is_file():
        raise FileNotFoundError(f"COMET checkpoint {ckpt} not found (model_path={model_path!r})")
    return str(ckpt.resolve())


def _comet_model(model_path: str) -> Any:
    """The COMET model for `model_path`, loaded once per process (call with _LOCK held)."""
    import comet

    ckpt = _checkpoint_file(model_path)
    if ckpt not in _MODELS:
        for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
        model = comet.load_from_checkpoint(ckpt, reload_hparams=True, local_files_only=True)
        _MODELS[ckpt] = model.eval()
    return _MODELS[ckpt]


def _comet_samples(
    completions: Sequence[str], src: Sequence[Any], reference: Sequence[Any] | None, results: list[RewardResult | None]
) -> tuple[list[dict[str, str]], list[int]]:
    """COMET input dicts for the rows still unscored; rows without src/reference get a status."""
    samples, rows = [], []
    for i, text in enumerate(completions):
        if results[i] is not None:
            continue
        if not isinstance(src[i], str) or not src[i].strip():
            results[i] = RewardResult.not_applicable(f"row {i}: column 'src' is empty")
            continue
        sample = {"src": src[i], "mt": text}
        if reference is not None:
            refs = _references(reference[i])
            if refs is None:
                results[i] = RewardResult.not_applicable(f"row {i}: column 'reference' is empty")
                continue
            sample["ref"] = refs[0]
        samples.append(sample)
        rows.append(i)
    return samples, rows


def _comet_rewards(
    completions: Sequence[str],
    src: Sequence[Any],
    reference: Sequence[Any] | None,
    *,
    tgt_lang: Sequence[Any] | None,
    model_path: str | None,
    env_var: str,
    batch_size: int,
    gpus: int | None,
    check_language: bool,
) -> list[RewardResult]:
    try:
        import comet  # noqa: F401
    except ImportError as exc:
        reason = COMET_MISSING if exc.name == "comet" else f"cannot import unbabel-comet: {exc}"
        return [RewardResult.error(reason) for _ in completions]
    model_path = model_path or os.environ.get(env_var)
    if not model_path:
        reason = f"no COMET checkpoint: set the reward setting 'model_path' or the environment variable {env_var}"
        return [RewardResult.error(reason) for _ in completions]
    results = _language_results(completions, tgt_lang, check_language)
    samples, rows = _comet_samples(completions, src, reference, results)
    if samples:
        if gpus is None:
            import torch

            gpus = 1 if torch.cuda.is_available() else 0
        with _LOCK:
            model = _comet_model(model_path)
            scores = model.predict(samples, batch_size=batch_size, gpus=gpus, progress_bar=False).scores
        for i, value in zip(rows, scores, strict=True):
            ok = value is not None and math.isfinite(value)
            results[i] = RewardResult.ok(value) if ok else RewardResult.error(f"row {i}: COMET returned {value!r}")
    return results  # type: ignore[return-value]


@reward("comet", columns=("src", "reference"), optional=("tgt_lang",), description="COMET with reference (unbabel-comet, .venv-qe).")
def comet_score(
    completions: list[str],
    src: Sequence[Any],
    reference: Sequence[Any],
    *,
    tgt_lang: Sequence[Any] | None = None,
    model_path: str | None = None,
    batch_size: int = 16,
    gpus: int | None = None,
    check_language: bool = False,
    **_: Any,
) -> list[RewardResult]:
    """COMET(src, mt, ref) per sample; `model_path` defaults to $RLSYS_COMET_MODEL."""
    return _comet_rewards(
        completions, src, reference, tgt_lang=tgt_lang, model_path=model_path, env_var="RLSYS_COMET_MODEL",
        batch_size=batch_size, gpus=gpus, check_language=check_language,
    )


@reward("comet_qe", columns=("src",), optional=("tgt_lang",), description="CometKiwi-style QE, no reference (unbabel-comet, .venv-qe).")
def comet_qe(
    completions: list[str],
    src: Sequence[Any],
    *,
    tgt_lang: Sequence[Any] | None = None,
    model_path: str | None = None,
    batch_size: int = 16,
    gpus: int | None = None,
    check_language: bool = False,
    **_: Any,
) -> list[RewardResult]:
    """Reference-free quality estimate QE(src, mt) per sample; `model_path` defaults to $RLSYS_COMET_QE_MODEL."""
    return _comet_rewards(
        completions, src, None, tgt_lang=tgt_lang, model_path=model_path, env_var="RLSYS_COMET_QE_MODEL",
        batch_size=batch_size, gpus=gpus, check_language=check_language,
    )
