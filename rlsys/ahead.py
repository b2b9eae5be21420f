"""Asynchronous rollouts: the steps whose generation was submitted and not yet trained, and the
staleness bound their samples are held to.

Why: while the learner trains step t, the rollout engines would idle. With
`algorithm.max_staleness` k > 0 the driver submits the generation of steps t+1..t+k before it
trains step t (`Ahead.submit_until`), so generation and training overlap; the weight sync after
step t reaches each engine between two of its requests (a request already running finishes on the
old weights; every sample records the version it was sampled with). The generation of step t+k is
submitted while the engines hold version t-1 at the oldest and trained at version t+k-1: its
samples are at most k versions old, so the pipeline keeps the bound by waiting for the learner.
`bound_staleness` checks every sample anyway (a lagging engine would break it) and applies
`algorithm.stale_policy` to the groups over the bound. k = 0 is the synchronous loop: each step
submits its own generation and waits for it.

Resume: a checkpoint stores the stream position of the oldest untrained step
(`untrained_position`), so after a resume the prompts of the steps that were still generating are
drawn again, with the same sampling seeds but the newer weights: the prompt order is exact, the
samples of those k steps are not those of the uninterrupted run. Not covered: partial rollouts
(a request aborted at a weight update and continued on new weights) and dynamic sampling
together with k > 0 (refused by the config).
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from rlsys.core.config import RLConfig
from rlsys.core.data import PromptStream


@dataclass
class Submitted:
    """One step's generation: its prompts (from `position` of the stream) and its future."""

    step: int
    position: int
    rows: list[dict]
    seeds: list[int]
    future: Future
    samples: list | None = None
    """Set by `Ahead.take` once the future is done."""


class Ahead:
    """The submitted steps, oldest first. The driver calls `submit_until` then `take` each step."""

    def __init__(self, cluster: Any, stream: PromptStream, cfg: RLConfig):
        self.cluster, self.stream, self.cfg = cluster, stream, cfg
        self.pending: deque[Submitted] = deque()
        self.next_step: int | None = None

    def submit_until(self, last_step: int, step: int) -> None:
        """Submit the generation of every step up to `last_step` (the first one is `step`)."""
        if self.next_step is None:
            self.next_step = step
        while self.next_step <= last_step:
            position = self.stream.position
            rows, seeds = self.stream.next_prompts(self.cfg.train.prompts_per_step)
            future = self.cluster.submit_generate([row[self.cfg.data.prompt_key] for row in rows], seeds)
            self.pending.append(Submitted(self.next_step, position, rows, seeds, future))
            self.next_step += 1

    def take(self, step: int) -> Submitted:
        """The oldest step's generation, waited for (`.samples` set)."""
        job = self.pending.popleft()
        if job.step != step:
            raise RuntimeError(f"generation of step {job.step} taken for step {step}")
        job.samples = job.future.result()
        return job

    def untrained_position(self) -> int:
        """Where a resume continues the stream: the first prompt of the oldest untrained step."""
        return self.pending[0].position if self.pending else self.stream.position


def bound_staleness(cluster: Any, job: Submitted, version: int, cfg: RLConfig) -> tuple[list, dict[str, float]]:
    """The samples of `job` for training at weight `version`, and the `async/*` metrics. A group
    with a sample more than `max_staleness` versions old is generated again with the current
    weights (`stale_policy: wait`) or left out (`drop`; if every group is stale, they are
    generated again: a step is never empty)."""
    algo, n = cfg.algorithm, cfg.rollout.samples_per_prompt
    samples = job.samples or []
    ages = [version - s.weight_version for s in samples]
    stale = sorted({s.prompt_index for s, age in zip(samples, ages) if age > algo.max_staleness})
    metrics: dict[str, float] = {
        "async/staleness_mean": sum(ages) / max(1, len(ages)),
        "async/staleness_max": max(ages, default=0),
        "async/stale_dropped": 0,
        "async/stale_regenerated": 0,
    }
    if not stale:
        return samples, metrics
    gone = set(stale)
    if algo.stale_policy == "drop" and len(stale) < len(samples) // n:
        metrics["async/stale_dropped"] = len(stale) * n
        return [s for s in samples if s.prompt_index not in gone], metrics
    fresh = cluster.generate([job.rows[i][cfg.data.prompt_key] for i in stale], [job.seeds[i] for i in stale])
    for s in fresh:
        s.prompt_index = stale[s.prompt_index]
    metrics["async/stale_regenerated"] = len(fresh)
    kept = [s for s in samples if s.prompt_index not in gone] + fresh
    return sorted(kept, key=lambda s: s.prompt_index), metrics  # stable: groups stay contiguous


def overlap_s(spans: list[tuple[float, float | None]], start: float, end: float) -> float:
    """Seconds of [start, end] during which a generation span ran (`None`: still running)."""
    return sum(max(0.0, min(end, e if e is not None else end) - max(start, s)) for s, e in spans)


class GenerateClock:
    """When the cluster's generation jobs ran (perf_counter spans, the last 64)."""

    def __init__(self) -> None:
        self.spans: deque[list] = deque(maxlen=64)

    def __enter__(self) -> None:
        self.spans.append([time.perf_counter(), None])

    def __exit__(self, *exc: object) -> None:
        self.spans[-1][1] = time.perf_counter()

    def overlap(self, start: float, end: float) -> float:
        return overlap_s([tuple(s) for s in list(self.spans)], start, end)
