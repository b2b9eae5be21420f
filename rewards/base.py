"""The result type every reward returns: a score or an explicit status with a reason.

A failed reward is never silently a zero: `timeout`, `error` and `not_applicable` carry
`score=None` and a reason, and the trainer decides what to do with them (see
`rlsys.core.config.RewardConfig.on_failure`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["ok", "not_applicable", "timeout", "error"]
STATUSES: tuple[Status, ...] = ("ok", "not_applicable", "timeout", "error")


@dataclass(frozen=True)
class RewardResult:
    """One sample's outcome. `score` is set exactly when `status == "ok"`."""

    score: float | None
    status: Status = "ok"
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown reward status {self.status!r}; expected one of {STATUSES}")
        if self.status == "ok":
            if self.score is None or not math.isfinite(float(self.score)):
                raise ValueError(f"status 'ok' needs a finite score, got {self.score!r}")
        elif self.score is not None:
            raise ValueError(f"status {self.status!r} must not carry a score (got {self.score!r})")

    @classmethod
    def ok(cls, score: float, reason: str = "") -> RewardResult:
        return cls(float(score), "ok", reason)

    @classmethod
    def error(cls, reason: str) -> RewardResult:
        return cls(None, "error", reason)

    @classmethod
    def timeout(cls, reason: str) -> RewardResult:
        return cls(None, "timeout", reason)

    @classmethod
    def not_applicable(cls, reason: str) -> RewardResult:
        return cls(None, "not_applicable", reason)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RewardResult:
        return cls(data.get("score"), data.get("status", "ok"), data.get("reason", ""))


def coerce(value: Any) -> RewardResult:
    """Accept what a reward function may return for one sample: a result, a number or None."""
    if isinstance(value, RewardResult):
        return value
    if value is None:
        return RewardResult.not_applicable("reward returned None")
    if isinstance(value, bool | int | float):
        return RewardResult.ok(float(value))
    raise TypeError(f"a reward must return RewardResult, a number or None per sample, got {type(value).__name__}")
