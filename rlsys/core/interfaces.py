"""The interfaces that have more than one implementation, declared in one place.

A new backend is one file that satisfies one of these protocols; `tests/test_interfaces.py`
checks that every shipped implementation does. They are structural (`typing.Protocol`): an
implementation does not inherit from them, it only has the methods.

| protocol         | implementations                                   | used by                  |
|------------------|---------------------------------------------------|--------------------------|
| `Cluster`        | `rlsys.cluster.InlineCluster`, `RayCluster`       | `rlsys.driver`           |
| `Strategy`       | `actors.strategy.TorchStrategy`, `DeepSpeedStrategy` | `actors.learner`      |
| `RolloutBackend` | `actors.rollout.VLLMBackend`, `HFBackend`         | `actors.rollout.RolloutWorker` |
| `WeightSender`   | `actors.weight_sync` transports (learner side)    | `actors.learner`         |
| `WeightReceiver` | `actors.weight_sync` transports (engine side)     | rollout backends         |

Types only: this module imports no implementation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rlsys.core.types import Sample, TrainSample, WeightPayload

Completion = tuple[list[int], list[float], str]
"""(token ids, log-probability of each token under the sampling distribution, finish reason)."""


@runtime_checkable
class Cluster(Protocol):
    """Where the RL workers run. The driver calls these verbs in order and holds no other state.

    Generation is the one verb that runs while others do (the asynchronous loop): it returns a
    future; jobs run one at a time in submission order, and a `sync_weights` reaches each engine
    between two requests. A worker that dies is the cluster's to replace (`restarts` counts
    them); a learner rank that dies raises `rlsys.cluster.LearnerDied` from the verb that saw it."""

    restarts: dict[str, int]
    """Workers replaced so far, by role (`rollout`, `reward`); empty where nothing can die alone."""
    generate_clock: Any
    """When generation jobs ran (`rlsys.ahead.GenerateClock`): the overlap metric's source."""

    def submit_generate(self, prompts: list[Any], seeds: list[int] | None = None) -> Future:
        """Start generating (see `generate`); a `concurrent.futures.Future` of the samples."""
        ...

    def generate(self, prompts: list[Any], seeds: list[int] | None = None) -> list[Sample]:
        """`rollout.samples_per_prompt` samples per prompt, group-contiguous, prompt order kept;
        `seeds`: one sampling seed per prompt (the samples depend on it, not on earlier calls).
        The same as `submit_generate(...).result()`."""
        ...

    def score(self, completions: list[str], rows: list[dict]) -> tuple[list[Any], float]:
        """One composite reward result per completion (rows name their rewards), and the seconds taken."""
        ...

    def train(self, samples: list[TrainSample], total_tokens: int, total_seqs: int) -> list[dict[str, float]]:
        """One optimizer step on `samples` (split over learner ranks); metrics per rank."""
        ...

    def sync_weights(self, version: int) -> float:
        """Send the learner's weights, tagged `version`, to every rollout engine; seconds taken."""
        ...

    def save_checkpoint(self, path: str, state: dict) -> None:
        """Write a complete checkpoint to the folder `path` (atomically: see rlsys/core/checkpoints.py)
        with `state` as its trainer_state.json."""
        ...

    def load_checkpoint(self, path: str) -> None:
        """Restore the learner(s) from a complete checkpoint and send its weights to the engines."""
        ...

    def shutdown(self) -> None: ...


@runtime_checkable
class Strategy(Protocol):
    """How the learner's model is optimized (one rank's view)."""

    @property
    def module(self) -> Any:
        """The model to run forward passes with (the unwrapped `torch.nn.Module`)."""
        ...

    def backward(self, loss: Any) -> None:
        """Accumulate gradients of one micro-batch's loss (already scaled to the step). With
        several ranks gradients are averaged over ranks: scale a rank's share by the world size."""
        ...

    def step(self) -> float:
        """Clip, step optimizer and scheduler, zero gradients; returns the gradient norm."""
        ...

    def lr(self) -> float: ...

    def iter_full_params(self) -> Iterator[tuple[str, Any]]:
        """(name, full tensor) one at a time on the learner's device, Hugging Face names; every
        rank iterates to the end (ZeRO-3 gathers each parameter for the time of its item)."""
        ...

    def full_state_dict(self) -> dict[str, Any]:
        """Host copies of the full weights on rank 0 ({} elsewhere); every rank must call it."""
        ...

    def save(self, path: Path) -> None:
        """Optimizer, scheduler and engine state into the folder `path`."""
        ...

    def load(self, path: Path) -> None: ...

    def all_reduce_max(self, value: int) -> int:
        """The largest `value` over the learner ranks (keeps collective calls in step)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class RolloutBackend(Protocol):
    """An inference engine that samples completions for token-id prompts."""

    def generate(
        self, prompt_ids: list[list[int]], n: int, seeds: list[int] | None = None, temperature: float | None = None
    ) -> list[list[Completion]]:
        """`n` completions per prompt, in prompt order; `seeds`: one sampling seed per prompt;
        `temperature` (0: greedy) overrides the config's."""
        ...

    def load_weights(self, payload: WeightPayload) -> None:
        """Replace the engine's weights with the payload's (any transport)."""
        ...

    def join_weight_group(self, host: str, port: int, rank_offset: int, world_size: int) -> list[int]:
        """Join the collective weight transport's group (each engine worker one rank from
        `rank_offset`); returns the ranks taken."""
        ...

    def sleep(self) -> None:
        """Free device memory while a colocated learner trains (a no-op where unsupported)."""
        ...

    def wake_up(self, tags: list[str] | None) -> None:
        """Take memory back (`["weights"]`, `["kv_cache"]`, or None for all)."""
        ...

    def shutdown(self) -> None: ...


@runtime_checkable
class WeightSender(Protocol):
    """Learner side of a weight transport: packs a state dict for the rollout engines.

    An object-store transport returns the data in the payload; a collective one sends it while
    the receivers unpack, and returns a payload that only describes what was sent."""

    name: str

    def pack(self, state_dict: Mapping[str, Any], version: int) -> WeightPayload: ...


@runtime_checkable
class WeightReceiver(Protocol):
    """Engine side of a weight transport: turns a payload back into `(name, tensor)` pairs
    (a collective transport receives them as the iterator is consumed: consume it to the end)."""

    name: str

    def unpack(self, payload: WeightPayload) -> Iterator[tuple[str, Any]]: ...


__all__: Sequence[str] = (
    "Cluster",
    "Completion",
    "RolloutBackend",
    "Strategy",
    "WeightReceiver",
    "WeightSender",
)
