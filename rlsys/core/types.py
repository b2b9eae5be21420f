"""Data that crosses the boundaries between workers: samples, training samples, weight payloads.

Plain dataclasses with no behaviour beyond their shape, so that the driver, the batch builder
(`rlsys.core.batch`) and every worker agree on them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sample:
    """One sampled completion of one prompt, as a rollout worker returns it."""

    prompt_index: int
    """Index of the prompt in the batch the worker was given (the driver renumbers across workers)."""
    prompt_ids: list[int]
    completion_ids: list[int]
    completion: str
    logprobs: list[float]
    """Log-probability of each completion token under the sampling distribution."""
    finish_reason: str
    """`stop` (a stop token) or `length` (max_new_tokens or max_model_len reached)."""
    weight_version: int
    """The weight version the worker held when it sampled this completion."""
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainSample:
    """One sequence for the learner: token ids, its advantage and the rollout's log-probabilities."""

    prompt_ids: list[int]
    completion_ids: list[int]
    advantage: float
    rollout_logprobs: list[float]

    def __len__(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)


@dataclass
class WeightPayload:
    """Weights on their way from the learner to the rollout engines, tagged with their version.

    `transport` names the transport that packed `data` (see `actors.weight_sync`); what `data`
    holds is that transport's business (a state dict, safetensors bytes, a handle, ...).
    """

    version: int
    transport: str
    data: Any
