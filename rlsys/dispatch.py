"""Prompts to several rollout engines, balanced by pending work.

Why: with a static split (`prompts[i::n]`) every step waits for the slowest engine, and an
engine that is slower (another GPU model, a neighbour on its node, longer completions) holds
all the others back. Here the driver keeps a queue of requests (`prompts_per_request` prompts
each, with all their samples) and hands the next one to the engine with the fewest samples
pending, among those with fewer than `depth` requests outstanding (one running, one waiting, so
no engine idles between requests). A slow engine finishes its requests later and so is given
fewer. Samples come back in prompt order, the samples of one prompt contiguous, each tagged
with the engine that made it (`extras["engine"]`).

An engine whose process died (Ray `RayActorError`) is replaced by `replace(engine)` (the
cluster's supervisor: a new actor with the current weights) and its lost request is sent again
with the same seeds, so the step's samples are the ones it would have had.

Not covered: balancing by token count (prompts are tokenized in the engines, completion lengths
are unknown until they are done), and feeding requests into a running vLLM batch (an engine
runs its requests one after another; larger requests batch better, smaller ones balance better).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rlsys.core.types import Sample


def plan_requests(n_prompts: int, n_engines: int, prompts_per_request: int | None) -> list[list[int]]:
    """Consecutive prompt indices per request; default size: a quarter of an even share (one
    engine: everything in one request, the largest batch)."""
    default = n_prompts if n_engines == 1 else math.ceil(n_prompts / (4 * n_engines))
    size = prompts_per_request or max(1, default)
    return [list(range(i, min(i + size, n_prompts))) for i in range(0, n_prompts, size)]


class Balancer:
    """Which engine takes the next request: the least pending work among those with room."""

    def __init__(self, n_engines: int, depth: int = 2):
        self.pending = [0] * n_engines  # samples requested and not yet returned
        self.outstanding = [0] * n_engines  # requests sent and not yet returned
        self.depth = depth

    def pick(self) -> int | None:
        free = [e for e in range(len(self.pending)) if self.outstanding[e] < self.depth]
        return min(free, key=lambda e: (self.pending[e], self.outstanding[e], e)) if free else None

    def start(self, engine: int, samples: int) -> None:
        self.pending[engine] += samples
        self.outstanding[engine] += 1

    def finish(self, engine: int, samples: int) -> None:
        self.pending[engine] -= samples
        self.outstanding[engine] -= 1


def generate_balanced(
    engines: list[Any],
    prompts: list[Any],
    samples_per_prompt: int,
    prompts_per_request: int | None = None,
    depth: int = 2,
    seeds: list[int] | None = None,
    replace: Callable[[int], Any] | None = None,
) -> list[Sample]:
    """Generate on Ray actors `engines` (RolloutWorker); group-contiguous samples in prompt order.

    `seeds` (one per prompt) travel with their prompts, so which engine samples a prompt does not
    change what it samples."""
    import ray

    queue = plan_requests(len(prompts), len(engines), prompts_per_request)
    queue.reverse()  # pop() from the end takes the first request
    balancer = Balancer(len(engines), depth)
    running: dict[Any, tuple[int, list[int], Any]] = {}

    def send() -> bool:
        engine = balancer.pick()
        if engine is None or not queue:
            return False
        part = queue.pop()
        balancer.start(engine, len(part) * samples_per_prompt)
        part_seeds = None if seeds is None else [seeds[j] for j in part]
        actor = engines[engine]
        running[actor.generate.remote([prompts[j] for j in part], seeds=part_seeds)] = (engine, part, actor)
        return True

    while send():
        pass
    samples: list[Sample] = []
    while running:
        [ref], _ = ray.wait(list(running), num_returns=1)
        engine, part, actor = running.pop(ref)
        balancer.finish(engine, len(part) * samples_per_prompt)
        try:
            done = ray.get(ref)
        except ray.exceptions.RayActorError:
            if replace is None:
                raise
            if engines[engine] is actor:  # not replaced yet by the failure of its other request
                engines[engine] = replace(engine)
            queue.append(part)  # sent again next, with the same seeds
            while send():
                pass
            continue
        for s in done:
            s.prompt_index = part[s.prompt_index]
            s.extras["engine"] = engine
            samples.append(s)
        while send():
            pass
    return sorted(samples, key=lambda s: s.prompt_index)  # stable: each prompt's samples stay contiguous
