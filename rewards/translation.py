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

Guards against gaming (rewards.translation_guards: target language, source copy, length band,
translation only): on by default for `comet_qe` (QE alone rewards copies, wrong-language output
and chatter), off by default for `chrf`, `bleu` and `comet` (a reference already punishes most of
that). Settings, all four rewards: `guards` ("all", "none", or a list of "language", "copy",
"length", "translation_only"), `copy_threshold`, `length_tolerance`, `length_ratios`, and the
older `check_language=True` (adds the language guard). A sample that fails a guard gets score
0.0 with status ok and the reason "guard <name>: ..."; the metric is not computed for it. The
guards read the optional columns `src` (chrf/bleu), `tgt_lang` and `src_lang`; a guard that
lacks its column is skipped. A bad guard setting gives every sample status error.

Not covered: see rewards.translation_guards for what the guards miss (meaning, fluent wrong
translations). COMET gets the first reference when a row has several. BLEU's default `13a`
tokenizer is poor for zh/ja/ko: set `tokenize` ("zh", "char") for those. COMET scores are not
calibrated across models.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rewards.base import RewardResult
from rewards.registry import reward
from rewards.settings import Setting
from rewards.translation_guards import GuardConfig, GuardSettingError, TranslationGuards, script_mismatch

COMET_MISSING = (
    "unbabel-comet is not installed in this environment; run the QE reward server from .venv-qe (see README)"
)

# ---------------------------------------------------------------- guards (rewards.translation_guards)

language_mismatch = script_mismatch  # the script-level language check, kept under its old name


def _guards(
    guards: Any, check_language: bool, copy_threshold: Any, length_tolerance: Any, length_ratios: Any
) -> TranslationGuards:
    """The guards a reward call enables; raises GuardSettingError for bad settings."""
    config = GuardConfig.from_settings(guards, copy_threshold, length_tolerance, length_ratios)
    if check_language and "language" not in config.guards:
        config = replace(config, guards=("language", *config.guards))
    return TranslationGuards(config)


def _guarded(
    completions: Sequence[str], settings: dict[str, Any], src: Any, tgt_lang: Any, src_lang: Any
) -> list[RewardResult | None]:
    """Penalties of the enabled guards (None where the metric decides), or one error per sample."""
    try:
        guards = _guards(**settings)
    except GuardSettingError as exc:
        errors: list[RewardResult | None] = [RewardResult.error(str(exc)) for _ in completions]
        return errors
    return guards.penalties(completions, src, tgt_lang, src_lang)


def _references(value: Any) -> list[str] | None:
    """A row's reference(s) as a non-empty list of strings, or None when there is none."""
    refs = [value] if isinstance(value, str) else list(value or [])
    refs = [r for r in refs if isinstance(r, str) and r.strip()]
    return refs or None


# ---------------------------------------------------------------- chrF and BLEU

GUARD_COLUMNS = ("tgt_lang", "src_lang")
GUARD_SETTINGS = {
    "guards": Setting(
        str, doc="'all', 'none', or comma-separated guard names (language, copy, length, translation_only)"
    ),
    "check_language": Setting(bool, doc="add the language guard"),
    "copy_threshold": Setting(float, ge=0.01, le=1.0, doc="source-copy overlap above which a sample fails"),
    "length_tolerance": Setting(float, ge=1.05, le=20.0, doc="factor around the pair's expected length ratio"),
}
"""What a request may set on every translation reward: the caller's own anti-gaming guards (they change
only the caller's verdicts; `length_ratios`, a table, and the COMET model and batch settings are the
operator's)."""


def _sentence_scores(
    metric: Any, completions: Sequence[str], reference: Sequence[Any], results: list[RewardResult | None]
) -> list[RewardResult]:
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


@reward(
    "chrf",
    columns=("reference",),
    optional=("src", *GUARD_COLUMNS),
    description="chrF vs reference (sacrebleu), 0..1.",
    request_settings={**GUARD_SETTINGS, "word_order": Setting(int, ge=0, le=2, doc="2 = chrF++")},
)
def chrf(
    completions: list[str],
    reference: Sequence[Any],
    *,
    src: Sequence[Any] | None = None,
    tgt_lang: Sequence[Any] | None = None,
    src_lang: Sequence[Any] | None = None,
    word_order: int = 0,
    check_language: bool = False,
    guards: Any = "none",
    copy_threshold: float = 0.5,
    length_tolerance: float = 2.0,
    length_ratios: Any = None,
    **_: Any,
) -> list[RewardResult]:
    """Sentence chrF (chrF++ with `word_order=2`) / 100; `reference` is a string or a list of them.

    >>> chrf(["Die Katze schläft."], reference=["Die Katze schläft."])[0].score
    1.0
    """
    from sacrebleu.metrics import CHRF

    settings = dict(
        guards=guards,
        check_language=check_language,
        copy_threshold=copy_threshold,
        length_tolerance=length_tolerance,
        length_ratios=length_ratios,
    )
    results = _guarded(completions, settings, src, tgt_lang, src_lang)
    if any(r is not None and r.status == "error" for r in results):
        return results  # type: ignore[return-value]
    return _sentence_scores(CHRF(word_order=word_order), completions, reference, results)


@reward(
    "bleu",
    columns=("reference",),
    optional=("src", *GUARD_COLUMNS),
    description="Sentence BLEU vs reference (sacrebleu), 0..1.",
    request_settings={
        **GUARD_SETTINGS,
        "tokenize": Setting(
            str, choices=("13a", "intl", "zh", "ja-mecab", "ko-mecab", "char", "none", "flores101", "flores200")
        ),
    },
)
def bleu(
    completions: list[str],
    reference: Sequence[Any],
    *,
    src: Sequence[Any] | None = None,
    tgt_lang: Sequence[Any] | None = None,
    src_lang: Sequence[Any] | None = None,
    tokenize: str = "13a",
    check_language: bool = False,
    guards: Any = "none",
    copy_threshold: float = 0.5,
    length_tolerance: float = 2.0,
    length_ratios: Any = None,
    **_: Any,
) -> list[RewardResult]:
    """Sentence BLEU (effective order, exp smoothing) / 100; `tokenize` is sacrebleu's tokenizer name."""
    from sacrebleu.metrics import BLEU

    settings = dict(
        guards=guards,
        check_language=check_language,
        copy_threshold=copy_threshold,
        length_tolerance=length_tolerance,
        length_ratios=length_ratios,
    )
    results = _guarded(completions, settings, src, tgt_lang, src_lang)
    if any(r is not None and r.status == "error" for r in results):
        return results  # type: ignore[return-value]
    metric = BLEU(tokenize=tokenize, effective_order=True)
    return _sentence_scores(metric, completions, reference, results)


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
    src_lang: Sequence[Any] | None,
    model_path: str | None,
    env_var: str,
    batch_size: int,
    gpus: int | None,
    guard_settings: dict[str, Any],
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
    results = _guarded(completions, guard_settings, src, tgt_lang, src_lang)
    if any(r is not None and r.status == "error" for r in results):
        return results  # type: ignore[return-value]
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


@reward(
    "comet",
    columns=("src", "reference"),
    optional=GUARD_COLUMNS,
    description="COMET with reference (unbabel-comet, .venv-qe).",
    request_settings=GUARD_SETTINGS,
)
def comet_score(
    completions: list[str],
    src: Sequence[Any],
    reference: Sequence[Any],
    *,
    tgt_lang: Sequence[Any] | None = None,
    src_lang: Sequence[Any] | None = None,
    model_path: str | None = None,
    batch_size: int = 16,
    gpus: int | None = None,
    check_language: bool = False,
    guards: Any = "none",
    copy_threshold: float = 0.5,
    length_tolerance: float = 2.0,
    length_ratios: Any = None,
    **_: Any,
) -> list[RewardResult]:
    """COMET(src, mt, ref) per sample; `model_path` defaults to $RLSYS_COMET_MODEL. Guards off by default."""
    settings = dict(
        guards=guards,
        check_language=check_language,
        copy_threshold=copy_threshold,
        length_tolerance=length_tolerance,
        length_ratios=length_ratios,
    )
    return _comet_rewards(
        completions,
        src,
        reference,
        tgt_lang=tgt_lang,
        src_lang=src_lang,
        model_path=model_path,
        env_var="RLSYS_COMET_MODEL",
        batch_size=batch_size,
        gpus=gpus,
        guard_settings=settings,
    )


@reward(
    "comet_qe",
    columns=("src",),
    optional=GUARD_COLUMNS,
    description="CometKiwi-style QE, no reference (unbabel-comet, .venv-qe); guarded.",
    request_settings=GUARD_SETTINGS,
)
def comet_qe(
    completions: list[str],
    src: Sequence[Any],
    *,
    tgt_lang: Sequence[Any] | None = None,
    src_lang: Sequence[Any] | None = None,
    model_path: str | None = None,
    batch_size: int = 16,
    gpus: int | None = None,
    check_language: bool = False,
    guards: Any = "all",
    copy_threshold: float = 0.5,
    length_tolerance: float = 2.0,
    length_ratios: Any = None,
    **_: Any,
) -> list[RewardResult]:
    """Reference-free quality estimate QE(src, mt) per sample; `model_path` defaults to $RLSYS_COMET_QE_MODEL.

    All guards are on by default (`guards="none"` turns them off): QE alone is easy to game.
    """
    settings = dict(
        guards=guards,
        check_language=check_language,
        copy_threshold=copy_threshold,
        length_tolerance=length_tolerance,
        length_ratios=length_ratios,
    )
    return _comet_rewards(
        completions,
        src,
        None,
        tgt_lang=tgt_lang,
        src_lang=src_lang,
        model_path=model_path,
        env_var="RLSYS_COMET_QE_MODEL",
        batch_size=batch_size,
        gpus=gpus,
        guard_settings=settings,
    )
