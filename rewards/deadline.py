"""Score a batch within a wall-clock budget: rewards still running at the deadline become `timeout`.

Why: the trainer's reward step calls every reward a batch names and waits for all of them; one
in-process reward that runs long (a quadratic check on a 400 KB completion, a stuck network call
inside a plugin) would stall the whole RL step with no status to show for it. Here each reward
group of the batch (the rows naming one reward) runs in its own daemon thread; at the deadline the
rows of every group that has not returned get `RewardResult.timeout` with a reason naming the
reward and the budget, and composition proceeds as in `rewards.compose.score_rows` (a row whose
component timed out has status `timeout`, never a silent zero).

    results = score_rows(completions, rows, settings, timeout_s=60.0)   # rewards.compose

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
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class _Call(threading.Thread, Generic[T]):
    """One call in a daemon thread; `result` is set when it returns, `error` when it raises."""

    def __init__(self, name: str, fn: Callable[[], T]):
        super().__init__(name=f"reward-{name}", daemon=True)
        self.fn = fn
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except Exception as exc:  # noqa: BLE001 - handed to the caller, a bug must not read as a timeout
            self.error = exc


def run_with_deadline(calls: Mapping[str, Callable[[], T]], timeout_s: float) -> dict[str, T | None]:
    """Run every call in its own thread; None for the calls still running after `timeout_s` seconds.

    A call that raised re-raises here (the caller turns exceptions into statuses before this point).
    """
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    threads = {name: _Call(name, fn) for name, fn in calls.items()}
    for thread in threads.values():
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    out: dict[str, T | None] = {}
    for name, thread in threads.items():
        if thread.error is not None:
            raise thread.error
        out[name] = thread.result  # read once: a late thread may still set it
    return out
