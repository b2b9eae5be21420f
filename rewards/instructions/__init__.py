"""Instruction-following constraint rewards (IFEval-style), offline and language-aware.

Why: RL on instruction following needs a verifiable reward per prompt; IFEval's checkers need
NLTK and langdetect data (not downloadable here) and several are English-only. This package
re-implements the 25 IFEval instruction types (`checks`), adds translation-specific checks
(`translation_checks`), and scores a completion by the fraction of its row's constraints met.

A row's `constraints` column is a list (or a JSON string of a list) of
`{"type": "keywords:existence", "keywords": ["cat"]}` or `{"id": ..., "kwargs": {...}}` items;
see `spec` for validation. Optional columns: `prompt` (used by combination:repeat_prompt when
`prompt_to_repeat` is not given; a string or chat messages, whose last user turn is used),
`src` (the translation source for translation:* checks) and `tgt_lang` (the language for
translation:target_language when the constraint does not name one).

Scores and statuses:
- ok: satisfied / total, with the failed constraints listed in the reason;
- not_applicable: the row has no constraints (None or an empty list);
- error: a constraint of unknown type or with a missing/bad argument (the reason names the
  constraint index and the field). One bad constraint makes the whole row an error.
- An empty (whitespace-only) completion satisfies no constraint, as in IFEval.

Modes: `mode="strict"` checks the response as given. `mode="loose"` (IFEval's loose accuracy)
passes a constraint if any of 8 variants passes: the response, without its first line, without
its last line, without both, and each of these with every `*` removed. The reward
`instructions_loose` is `instructions` with mode defaulting to "loose".

For evaluation, `check_constraints(response, constraints, prompt=None, src=None, loose=False,
tgt_lang=None)` returns one bool per constraint (raises `ConstraintError` on bad constraints).
A bad `mode` setting gives every sample status error.

>>> check_constraints("Hello, WORLD", [{"type": "punctuation:no_comma"},
...                                    {"type": "keywords:existence", "keywords": ["world"]}])
[False, True]

Not covered: model-judged instructions (style, tone, correctness of content); language detection
limits are listed in `language`, counting rules in `segmentation`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewards.base import RewardResult
from rewards.instructions import checks, translation_checks, translation_rules  # noqa: F401  (registers the checks)
from rewards.instructions.checks import IFEVAL_TYPES
from rewards.instructions.language import detect_language
from rewards.instructions.spec import (
    CHECKS,
    Constraint,
    ConstraintError,
    constraints_from_ifeval,
    parse_constraints,
    resolve_args,
)
from rewards.registry import reward

MODES = ("strict", "loose")
OPTIONAL_COLUMNS = ("prompt", "src", "tgt_lang")

__all__ = [
    "CHECKS", "IFEVAL_TYPES", "ConstraintError", "check_constraints", "constraints_from_ifeval",
    "detect_language", "loose_variants", "parse_constraints",
]


def loose_variants(response: str) -> list[str]:
    """IFEval's loose-evaluation variants of a response (the response itself first)."""
    lines = response.split("\n")
    trimmed = [response, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return trimmed + [r.replace("*", "") for r in trimmed]


def prompt_text(prompt: Any) -> str | None:
    """A prompt column value as text: the string itself, or the last user message's content."""
    if prompt is None or isinstance(prompt, str):
        return prompt
    if hasattr(prompt, "tolist"):
        prompt = prompt.tolist()
    users = [m for m in prompt if isinstance(m, Mapping) and m.get("role") == "user"]
    content = users[-1].get("content") if users else None
    return content if isinstance(content, str) else None


def _prepare(constraints: Any, prompt: Any, src: Any, tgt_lang: Any) -> list[tuple[Constraint, dict[str, Any]]]:
    parsed = parse_constraints(constraints)
    columns = {"prompt": prompt_text(prompt), "src": src, "tgt_lang": tgt_lang}
    return [(c, resolve_args(c, columns)) for c in parsed]


def _evaluate(response: str, prepared: list[tuple[Constraint, dict[str, Any]]], loose: bool) -> list[bool]:
    variants = [v for v in (loose_variants(response) if loose else [response]) if v.strip()]
    return [any(CHECKS[c.type].fn(v, **args) for v in variants) for c, args in prepared]


def check_constraints(
    response: str,
    constraints: Any,
    prompt: Any = None,
    src: str | None = None,
    loose: bool = False,
    tgt_lang: str | None = None,
) -> list[bool]:
    """One bool per constraint: is it satisfied by `response`? Raises `ConstraintError`."""
    return _evaluate(response, _prepare(constraints, prompt, src, tgt_lang), loose)


def _score_row(response: str, constraints: Any, columns: tuple[Any, Any, Any], loose: bool) -> RewardResult:
    if constraints is None:
        return RewardResult.not_applicable("row has no constraints")
    try:
        prepared = _prepare(constraints, *columns)
    except ConstraintError as exc:
        return RewardResult.error(f"constraints: {exc}")
    if not prepared:
        return RewardResult.not_applicable("row's constraints list is empty")
    passed = _evaluate(response, prepared, loose)
    failed = [f"{c.index} {c.type}" for (c, _), ok in zip(prepared, passed) if not ok]
    reason = f"failed: {', '.join(failed)}" if failed else ""
    return RewardResult.ok(sum(passed) / len(passed), reason)


def _per_row(values: Sequence[Any] | None, n: int) -> Sequence[Any]:
    return [None] * n if values is None else values


@reward(
    "instructions",
    columns=("constraints",),
    optional=OPTIONAL_COLUMNS,
    description="Fraction of IFEval-style and translation constraints the completion satisfies.",
)
def instructions(
    completions: list[str],
    constraints: Sequence[Any],
    prompt: Sequence[Any] | None = None,
    src: Sequence[Any] | None = None,
    tgt_lang: Sequence[Any] | None = None,
    *,
    mode: str = "strict",
    **_: Any,
) -> list[RewardResult]:
    """Score each completion by the fraction of its row's constraints it satisfies."""
    if mode not in MODES:
        reason = f"setting 'mode' must be one of {list(MODES)}, got {mode!r}"
        return [RewardResult.error(reason) for _ in completions]
    n = len(completions)
    columns = zip(_per_row(prompt, n), _per_row(src, n), _per_row(tgt_lang, n))
    return [_score_row(c, k, cols, mode == "loose") for c, k, cols in zip(completions, constraints, columns)]


@reward(
    "instructions_loose",
    columns=("constraints",),
    optional=OPTIONAL_COLUMNS,
    description="Like 'instructions' with IFEval's loose evaluation (mode defaults to 'loose').",
)
def instructions_loose(
    completions: list[str],
    constraints: Sequence[Any],
    prompt: Sequence[Any] | None = None,
    src: Sequence[Any] | None = None,
    tgt_lang: Sequence[Any] | None = None,
    *,
    mode: str = "loose",
    **_: Any,
) -> list[RewardResult]:
    """`instructions` with mode defaulting to 'loose'."""
    return instructions(completions, constraints, prompt, src, tgt_lang, mode=mode)
