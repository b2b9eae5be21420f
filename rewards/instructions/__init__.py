"""Instruction-following constraint rewards (IFEval-style), offline and language-aware.

Why: RL on instruction following needs a verifiable reward per prompt; IFEval's checkers need
NLTK and langdetect data (not downloadable here) and several are English-only. This package
re-implements the 25 IFEval instruction types (`checks`), adds translation-specific checks
(`translation_checks`) and IF-MT's checkable translation rules (`translation_rules`), and scores a
completion by the fraction of the constraints in force that it meets.

A row's `constraints` column is a list (or a JSON string of a list) of
`{"type": "keywords:existence", "keywords": ["cat"]}` or `{"id": ..., "kwargs": {...}}` items;
see `spec` for validation. Optional columns: `turn_constraints` (per user turn of a multi-turn
prompt; see `conversation` for the schema and which constraints hold at which turn), `prompt`
(every user turn is read: used by combination:repeat_prompt when `prompt_to_repeat` is not given,
and to count the turns), `src` (the translation source for translation:* checks) and `tgt_lang`
(the language for translation:target_language / quotation_marks when the constraint names none).
The completion is the reply to the prompt's last user turn.

Scores and statuses:
- ok: satisfied / total, with the failed constraints listed in the reason ("2 type" for
  conversation-level constraint 2, "t1.0 type" for constraint 0 of user turn 1);
- not_applicable: the row has no constraints (None or an empty list), or none is in force;
- error: a constraint of unknown type or with a missing/bad argument (the reason names the
  constraint index and the field). One bad constraint makes the whole row an error.
- An empty (whitespace-only) completion satisfies no constraint, as in IFEval.

Modes: `mode="strict"` checks the response as given. `mode="loose"` (IFEval's loose accuracy)
passes a constraint if any of 8 variants passes: the response, without its first line, without
its last line, without both, and each of these with every `*` removed. The reward
`instructions_loose` is `instructions` with mode defaulting to "loose".

For evaluation, `check_constraints(response, constraints, prompt=None, src=None, loose=False,
tgt_lang=None, turn_constraints=None, turn=None)` returns one bool per constraint in force at
user turn `turn` (default: the last), and `check_conversation(replies, constraints, prompt,
turn_constraints)` one list per turn for a conversation whose replies were all generated
(both raise `ConstraintError` on bad constraints). A bad `mode` setting gives every sample
status error.

>>> check_constraints("Hello, WORLD", [{"type": "punctuation:no_comma"},
...                                    {"type": "keywords:existence", "keywords": ["world"]}])
[False, True]

Not covered: model-judged instructions (style, tone, correctness of content); language detection
limits are listed in `language`, counting rules in `segmentation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewards.base import RewardResult
from rewards.instructions import checks, translation_checks, translation_rules  # noqa: F401  (registers the checks)
from rewards.instructions.checks import IFEVAL_TYPES
from rewards.instructions.conversation import (
    ActiveConstraint,
    active_constraints,
    conversation_user_turns,
    user_turns,
)
from rewards.instructions.language import detect_language
from rewards.instructions.spec import (
    CHECKS,
    ConstraintError,
    constraints_from_ifeval,
    parse_constraints,
)
from rewards.registry import reward
from rewards.settings import Setting

MODES = ("strict", "loose")
OPTIONAL_COLUMNS = ("prompt", "src", "tgt_lang", "turn_constraints")

__all__ = [
    "CHECKS",
    "IFEVAL_TYPES",
    "ConstraintError",
    "active_constraints",
    "check_constraints",
    "check_conversation",
    "constraints_from_ifeval",
    "detect_language",
    "loose_variants",
    "parse_constraints",
    "user_turns",
]


def loose_variants(response: str) -> list[str]:
    """IFEval's loose-evaluation variants of a response (the response itself first)."""
    lines = response.split("\n")
    trimmed = [response, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return trimmed + [r.replace("*", "") for r in trimmed]


def prompt_text(prompt: Any) -> str | None:
    """A prompt column value as text: the string itself, or the last user message's content."""
    turns = user_turns(prompt)
    return turns[-1] if turns else None


def _prepare(
    constraints: Any, prompt: Any, src: Any, tgt_lang: Any, turn_constraints: Any = None, turn: int | None = None
) -> list[ActiveConstraint]:
    return active_constraints(constraints, turn_constraints, prompt=prompt, src=src, tgt_lang=tgt_lang, turn=turn)


def _evaluate(response: str, prepared: list[ActiveConstraint], loose: bool) -> list[bool]:
    variants = [v for v in (loose_variants(response) if loose else [response]) if v.strip()]
    return [any(CHECKS[a.constraint.type].fn(v, **a.args) for v in variants) for a in prepared]


def check_constraints(
    response: str,
    constraints: Any,
    prompt: Any = None,
    src: str | None = None,
    loose: bool = False,
    tgt_lang: str | None = None,
    turn_constraints: Any = None,
    turn: int | None = None,
) -> list[bool]:
    """One bool per constraint that applies to `response`, the reply to user turn `turn` of
    `prompt` (default: the last): conversation-level constraints first, then the turn
    constraints in force (see `conversation`). Raises `ConstraintError`."""
    return _evaluate(response, _prepare(constraints, prompt, src, tgt_lang, turn_constraints, turn), loose)


def check_conversation(
    replies: Sequence[str],
    constraints: Any,
    prompt: Any,
    turn_constraints: Any = None,
    *,
    src: str | None = None,
    tgt_lang: str | None = None,
    loose: bool = False,
) -> list[list[bool]]:
    """For a conversation whose every reply was generated: per user turn, one bool per constraint
    in force at that turn. `replies[k]` answers user turn k; raises `ConstraintError`."""
    if len(replies) != conversation_user_turns(prompt):
        raise ConstraintError(
            f"{len(replies)} replies for a prompt with {conversation_user_turns(prompt)} user turn(s)"
        )
    return [
        check_constraints(reply, constraints, prompt, src, loose, tgt_lang, turn_constraints, turn=k)
        for k, reply in enumerate(replies)
    ]


def _score_row(response: str, constraints: Any, columns: tuple[Any, Any, Any, Any], loose: bool) -> RewardResult:
    turn_constraints = columns[3]
    if constraints is None and turn_constraints is None:
        return RewardResult.not_applicable("row has no constraints")
    try:
        prepared = _prepare(constraints, *columns)
    except ConstraintError as exc:
        return RewardResult.error(f"constraints: {exc}")
    if not prepared:
        return RewardResult.not_applicable("no constraint applies to this turn")
    passed = _evaluate(response, prepared, loose)
    failed = [f"{a.label} {a.constraint.type}" for a, ok in zip(prepared, passed) if not ok]
    reason = f"failed: {', '.join(failed)}" if failed else ""
    return RewardResult.ok(sum(passed) / len(passed), reason)


def _per_row(values: Sequence[Any] | None, n: int) -> Sequence[Any]:
    return [None] * n if values is None else values


@reward(
    "instructions",
    columns=("constraints",),
    optional=OPTIONAL_COLUMNS,
    description="Fraction of IFEval-style and translation constraints the completion satisfies.",
    request_settings={"mode": Setting(str, choices=MODES)},
)
def instructions(
    completions: list[str],
    constraints: Sequence[Any],
    prompt: Sequence[Any] | None = None,
    src: Sequence[Any] | None = None,
    tgt_lang: Sequence[Any] | None = None,
    turn_constraints: Sequence[Any] | None = None,
    *,
    mode: str = "strict",
    **_: Any,
) -> list[RewardResult]:
    """Score each completion by the fraction of the constraints in force at its prompt's last turn."""
    if mode not in MODES:
        reason = f"setting 'mode' must be one of {list(MODES)}, got {mode!r}"
        return [RewardResult.error(reason) for _ in completions]
    n = len(completions)
    columns = zip(_per_row(prompt, n), _per_row(src, n), _per_row(tgt_lang, n), _per_row(turn_constraints, n))
    return [_score_row(c, k, cols, mode == "loose") for c, k, cols in zip(completions, constraints, columns)]


@reward(
    "instructions_loose",
    columns=("constraints",),
    optional=OPTIONAL_COLUMNS,
    description="Like 'instructions' with IFEval's loose evaluation (mode defaults to 'loose').",
    request_settings={"mode": Setting(str, choices=MODES)},
)
def instructions_loose(
    completions: list[str],
    constraints: Sequence[Any],
    prompt: Sequence[Any] | None = None,
    src: Sequence[Any] | None = None,
    tgt_lang: Sequence[Any] | None = None,
    turn_constraints: Sequence[Any] | None = None,
    *,
    mode: str = "loose",
    **_: Any,
) -> list[RewardResult]:
    """`instructions` with mode defaulting to 'loose'."""
    return instructions(completions, constraints, prompt, src, tgt_lang, turn_constraints, mode=mode)
