"""Score a batch within a wall-clock budget: rewards still running at the deadline become `timeout`.

Why: the trainer's reward step calls every reward a batch names and waits for all of them; one
in-process reward that runs long (a quadratic check on a 400 KB completion, a stuck network call
inside a plugin) would stall the whole RL step with no status to show for it. Here each reward
group of the batch (the rows naming one reward) runs in its own daemon thread; at the deadline the
rows of every group that has not returned get `RewardResult.timeout` with a reason naming the
reward and the budget, and composition proceeds as in `rewards.compose.score_rows` (a row whose
component timed out has status `timeout`, never a silent zero).

    results = score_rows_with_deadline(completions, rows, settings, timeout_s=60.0)

The budget is the operator's (`rewards.batch_timeout_s` in the job config), never a row's.

Not covered: stopping the late computation. Python cannot kill a thread: a timed-out reward keeps
running in the background until it returns (its result is dropped) and keeps its share of the CPU
and the GIL meanwhile. Work that must be cut off hard belongs in a process with its own limits
(the math reward's pool, the code sandbox), which is what those rewards do. Configuration errors
(unknown reward, malformed `reward` field) still raise before anything runs, as in `score_rows`.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rewards.base import RewardResult
from rewards.compose import CompositeResult, check_settings, combine, group_rows, plan_rows, score_reward
from rewards.registry import RewardSpec, get_reward


class _Group(threading.Thread):
    """One reward over its rows; `results` is set when it returns (or fails)."""

    def __init__(self, spec: RewardSpec, completions: list[str], rows: list[Mapping[str, Any]],
                 settings: Mapping[str, Any] | None):
        super().__init__(name=f"reward-{spec.name}", daemon=True)
        self.spec, self.completions, self.rows, self.settings = spec, completions, rows, settings
        self.results: list[RewardResult] | None = None

    def run(self) -> None:
        try:
            self.results = score_reward(self.spec, self.completions, self.rows, self.settings)
        except Exception as exc:  # noqa: BLE001 - a bug here must not read as a timeout
            self.results = [RewardResult.error(f"{type(exc).__name__}: {exc}") for _ in self.rows]


def score_rows_with_deadline(
    completions: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    timeout_s: float,
    resolve: Callable[[str], RewardSpec] = get_reward,
) -> list[CompositeResult]:
    """`rewards.compose.score_rows` with a wall-clock budget for the whole batch (see module doc)."""
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    if len(completions) != len(rows):
        raise ValueError(f"{len(completions)} completions but {len(rows)} rows")
    settings = check_settings(settings)
    plans = plan_rows(rows)
    groups = group_rows(plans)
    specs = {name: resolve(name) for name in groups}
    threads = {
        name: _Group(specs[name], [completions[i] for i in idx], [rows[i] for i in idx], settings.get(name))
        for name, idx in groups.items()
    }
    for thread in threads.values():
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    group_results = {}
    for name, thread in threads.items():
        done = thread.results  # read once: a late thread may still set it
        if done is None:
            reason = f"reward {name!r} did not finish within the batch budget of {timeout_s:g} s (rewards.batch_timeout_s)"
            done = [RewardResult.timeout(reason) for _ in groups[name]]
        group_results[name] = done
    return combine(plans, groups, group_results)
