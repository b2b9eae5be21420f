"""Trivial built-in rewards: exact match, substring match and a length penalty.

Useful on their own for short-answer tasks and as cheap components of composite rewards
(`[{"name": "math", "weight": 1}, {"name": "length_penalty", "weight": 0.1}]`). Text is compared
after Unicode NFC normalization and stripping, so the same answer typed with composed or
decomposed accents (common across the languages we train on) matches.

Not covered: answer extraction (`\\boxed{}`, "The answer is ...") and numeric equivalence; use
the `math` reward for those. Lengths are in characters, not tokens.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from rewards.base import RewardResult
from rewards.registry import reward
from rewards.settings import Setting

CASE = {"case_sensitive": Setting(bool)}


def _norm(text: str, case_sensitive: bool) -> str:
    text = unicodedata.normalize("NFC", text).strip()
    return text if case_sensitive else text.casefold()


def _answers(answer: Any) -> list[str] | None:
    """An answer cell is a string or a list of acceptable strings; numbers are written as text."""
    if answer is None:
        return None
    items = answer if isinstance(answer, list | tuple) else [answer]
    return [str(a) for a in items if a is not None] or None


def _match(
    completions: Sequence[str], answer: Sequence[Any], case_sensitive: bool, contains: bool
) -> list[RewardResult]:
    out = []
    for completion, cell in zip(completions, answer, strict=True):
        answers = _answers(cell)
        if answers is None:
            out.append(RewardResult.not_applicable("row has no answer"))
            continue
        got = _norm(completion, case_sensitive)
        wanted = [_norm(a, case_sensitive) for a in answers]
        hit = any(w in got for w in wanted) if contains else got in wanted
        out.append(RewardResult.ok(1.0 if hit else 0.0))
    return out


@reward(
    "exact_match",
    columns=("answer",),
    description="1 if the stripped completion equals the answer (or one of a list of answers), else 0.",
    request_settings=CASE,
)
def exact_match(
    completions: Sequence[str], answer: Sequence[Any], *, case_sensitive: bool = True, **_: Any
) -> list[RewardResult]:
    """Exact match after NFC normalization and stripping.

    >>> [r.score for r in exact_match([" Paris ", "Lyon"], ["Paris", ["Paris", "Lyon"]])]
    [1.0, 1.0]
    """
    return _match(completions, answer, case_sensitive, contains=False)


@reward(
    "contains",
    columns=("answer",),
    description="1 if the answer (or any of a list of answers) occurs in the completion, else 0.",
    request_settings=CASE,
)
def contains(
    completions: Sequence[str], answer: Sequence[Any], *, case_sensitive: bool = True, **_: Any
) -> list[RewardResult]:
    """Substring match after NFC normalization and stripping.

    >>> [r.score for r in contains(["The capital is Paris.", "No idea"], ["Paris", "Paris"])]
    [1.0, 0.0]
    """
    return _match(completions, answer, case_sensitive, contains=True)


@reward(
    "length_penalty",
    description="0 up to max_chars characters, then falls linearly to -1 at twice max_chars (floor -1).",
    request_settings={"max_chars": Setting(int, ge=1, le=10_000_000)},
)
def length_penalty(completions: Sequence[str], *, max_chars: int = 2000, **_: Any) -> list[RewardResult]:
    """A penalty in [-1, 0] for completions longer than `max_chars` characters.

    >>> [r.score for r in length_penalty(["abcd", "abcdef", "a" * 20], max_chars=4)]
    [0.0, -0.5, -1.0]
    """
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars <= 0:
        reason = f"setting max_chars must be a positive integer, got {max_chars!r}"
        return [RewardResult.error(reason) for _ in completions]
    return [RewardResult.ok(-min(1.0, max(0, len(c) - max_chars) / max_chars) or 0.0) for c in completions]
