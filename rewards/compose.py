"""Score rows that each name their reward(s): grouping, batching and weighted composition.

The trainer (locally), the HTTP service and the remote client all go through this module, so a
row scores the same wherever it is scored. A row is a dict with a `reward` field and the
verification columns:

    {"reward": "math", "answer": "42"}
    {"reward": [{"name": "math", "weight": 1.0}, {"name": "length_penalty", "weight": 0.1}], ...}

Rows are grouped by reward name so that each reward is called once per batch.

Composition rule: the composite score is the weighted sum of the component scores. If any
component is not `ok`, the composite takes the status and reason of the first such component in
the row's listed order (e.g. `timeout`, with reason "math: ...") and has no score. A failed
component is never folded into the sum as a zero.

Columns a reward receives: its declared required and optional columns (a row lacking an optional
one passes None); a reward that declares no columns at all receives every column of the rows
(minus `reward` and any column named like one of the reward's settings: data never sets them). A row missing a required column gets status `error` naming the row and column.
Settings (`{reward_name: {key: value}}`) are passed as keyword arguments in the same call; a
setting with the same name as a column passed is an error for that reward's samples.

Not covered here: time limits (the service bounds a request; rewards bound their own work) and
resolving names the caller does not allow (pass `resolve=`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewards.base import RewardResult, Status
from rewards.deadline import run_with_deadline
from rewards.registry import RewardSpec, get_reward
from rewards.registry import score as score_batch
from rewards.settings import setting_names

REWARD_FIELD = "reward"


@dataclass(frozen=True)
class Component:
    """One reward named by a row, with its weight in the row's composite score."""

    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class CompositeResult:
    """A row's outcome: the composite score/status plus each component's own result."""

    score: float | None
    status: Status = "ok"
    reason: str = ""
    rewards: dict[str, RewardResult] = field(default_factory=dict)

    def __post_init__(self) -> None:
        RewardResult(self.score, self.status, self.reason)  # same invariants as a single result

    @classmethod
    def error(cls, reason: str) -> CompositeResult:
        return cls(None, "error", reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "status": self.status,
            "reason": self.reason,
            # explicit dicts: dataclasses.asdict deep-copies and dominated the service's answer time
            "rewards": {n: {"score": r.score, "status": r.status, "reason": r.reason} for n, r in self.rewards.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompositeResult:
        parts = {name: RewardResult.from_dict(r) for name, r in (data.get("rewards") or {}).items()}
        return cls(data.get("score"), data.get("status", "ok"), data.get("reason", ""), parts)


def parse_reward_field(value: Any, where: str = "row") -> tuple[Component, ...]:
    """Read a row's `reward` field: a name, or a list of `{"name", "weight"}` (weight defaults to 1)."""
    if isinstance(value, str):
        if not value:
            raise ValueError(f"{where}: field 'reward' is an empty string")
        return (Component(value),)
    if not isinstance(value, list | tuple) or not value:
        expected = "a name or a non-empty list of {name, weight}"
        raise ValueError(f"{where}: field 'reward' must be {expected}, got {value!r}")
    parts = []
    for k, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ValueError(f"{where}: reward[{k}] must be an object with a non-empty string 'name', got {item!r}")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
            raise ValueError(f"{where}: reward[{k}].weight must be a finite number, got {weight!r}")
        parts.append(Component(item["name"], float(weight)))
    names = [p.name for p in parts]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: reward list names {names} contains a duplicate")
    return tuple(parts)


def plan_rows(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Component, ...]]:
    """Parse every row's `reward` field; raises ValueError naming the first bad row."""
    plans = []
    for i, row in enumerate(rows):
        if REWARD_FIELD not in row:
            raise ValueError(f"row {i}: missing field 'reward' (a reward name or a list of {{name, weight}})")
        plans.append(parse_reward_field(row[REWARD_FIELD], f"row {i}"))
    return plans


def group_rows(plans: Sequence[tuple[Component, ...]]) -> dict[str, list[int]]:
    """Map each reward name to the indices of the rows that use it, in row order."""
    groups: dict[str, list[int]] = {}
    for i, parts in enumerate(plans):
        for part in parts:
            groups.setdefault(part.name, []).append(i)
    return groups


def select_columns(spec: RewardSpec, available: Sequence[str]) -> tuple[list[str], list[str]]:
    """Which columns a reward receives: (required, optional); see the module docstring.

    A reward that declares no columns gets every column except those named like one of its
    settings: data never sets a reward's settings (`rewards.settings`).
    """
    if spec.columns or spec.optional_columns:
        return list(spec.columns), list(spec.optional_columns)
    settings = set(setting_names(spec))
    return [], [c for c in available if c != REWARD_FIELD and c not in settings]


def score_reward(
    spec: RewardSpec,
    completions: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Any] | None = None,
) -> list[RewardResult]:
    """Call one reward on a batch of rows; one result per row, never raises for bad data."""
    settings = dict(settings or {})
    available = list(dict.fromkeys(k for row in rows for k in row))
    required, optional = select_columns(spec, available)
    results: list[RewardResult | None] = [None] * len(rows)
    keep = []
    for i, row in enumerate(rows):
        missing = [c for c in required if c not in row]
        if missing:
            reason = f"reward {spec.name!r} needs column(s) {missing}; this row has {sorted(row)}"
            results[i] = RewardResult.error(reason)
        else:
            keep.append(i)
    names = required + optional
    clash = sorted(set(settings) & set(names))
    if clash:
        reason = f"setting(s) {clash} of reward {spec.name!r} clash with column(s) of the same name"
        return [RewardResult.error(reason) for _ in rows]
    if keep:
        columns = {c: [rows[i].get(c) for i in keep] for c in names}
        scored = score_batch(spec, [completions[i] for i in keep], {**columns, **settings})
        for i, result in zip(keep, scored, strict=True):
            results[i] = result
    return [r for r in results if r is not None]


def combine(
    plans: Sequence[tuple[Component, ...]],
    groups: Mapping[str, Sequence[int]],
    group_results: Mapping[str, Sequence[RewardResult]],
) -> list[CompositeResult]:
    """Weighted sum per row; the first non-ok component (in row order) decides a failed row."""
    by_row: list[dict[str, RewardResult]] = [{} for _ in plans]
    for name, indices in groups.items():
        for i, result in zip(indices, group_results[name], strict=True):
            by_row[i][name] = result
    out = []
    for parts, found in zip(plans, by_row, strict=True):
        failed = next((p.name for p in parts if found[p.name].status != "ok"), None)
        if failed is not None:
            bad = found[failed]
            reason = bad.reason if len(parts) == 1 else f"{failed}: {bad.reason}"
            out.append(CompositeResult(None, bad.status, reason, found))
        else:
            total = sum(p.weight * _ok_score(found[p.name]) for p in parts)
            out.append(CompositeResult(total, "ok", "", found))
    return out


def _ok_score(result: RewardResult) -> float:
    """The score of a result with status 'ok' (RewardResult refuses an 'ok' without one)."""
    if result.score is None:
        raise ValueError(f"a reward result with status {result.status!r} has no score")
    return float(result.score)


def score_rows(
    completions: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    resolve: Callable[[str], RewardSpec] = get_reward,
    timeout_s: float | None = None,
) -> list[CompositeResult]:
    """Score each completion with the reward(s) its row names; one CompositeResult per row.

    Raises ValueError for a malformed `reward` field or settings, KeyError for an unknown reward
    name (configuration mistakes, reported before anything is scored). Failures while scoring
    are per-sample statuses, never exceptions. With `timeout_s`, each reward runs in its own thread
    and the rows of a reward still running after that many seconds get status `timeout`
    (rewards/deadline.py says what that does not cover).

    >>> [r.score for r in score_rows(["42", "7"], [{"reward": "exact_match", "answer": "42"}] * 2)]
    [1.0, 0.0]
    """
    if len(completions) != len(rows):
        raise ValueError(f"{len(completions)} completions but {len(rows)} rows")
    settings = check_settings(settings)
    plans = plan_rows(rows)
    groups = group_rows(plans)
    specs = {name: resolve(name) for name in groups}
    calls = {
        name: functools.partial(
            score_reward, specs[name], [completions[i] for i in idx], [rows[i] for i in idx], settings.get(name)
        )
        for name, idx in groups.items()
    }
    if timeout_s is None:
        return combine(plans, groups, {name: call() for name, call in calls.items()})
    done = run_with_deadline(calls, timeout_s)
    reason = "reward {!r} did not finish within the batch budget of {:g} s (rewards.batch_timeout_s)"
    group_results = {
        name: results
        if results is not None
        else [RewardResult.timeout(reason.format(name, timeout_s))] * len(groups[name])
        for name, results in done.items()
    }
    return combine(plans, groups, group_results)


def check_settings(settings: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Settings must be `{reward_name: {key: value}}`; raises ValueError naming the bad entry."""
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise ValueError(f"settings must be a mapping {{reward_name: {{key: value}}}}, got {type(settings).__name__}")
    for name, values in settings.items():
        if not isinstance(values, Mapping):
            raise ValueError(f"settings[{name!r}] must be a mapping of keyword arguments, got {values!r}")
    return {name: dict(values) for name, values in settings.items()}
