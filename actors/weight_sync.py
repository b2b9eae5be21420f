"""Weight sync from the learner to the rollout engines, behind a tiny interface.

The learner exports a state dict with Hugging Face parameter names; a transport packs it for
the trip and the rollout side unpacks it into `(name, tensor)` pairs for the engine:

- `tensors`: the dict itself. In one process (inline mode, in-process vLLM) nothing is copied;
  through Ray it travels in the object store (pickled once by `ray.put`, fetched by each
  rollout actor).
- `safetensors`: one bytes blob. Needed where tensors cannot cross as objects (vLLM in
  multi-process mode, HTTP); costs one serialization.

NCCL / CUDA-IPC transports for GPUs would sit beside these two; they are not written yet.
Every payload carries the weight version it was exported at, and every rollout sample records
the version it was sampled with.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch

Transport = Literal["tensors", "safetensors"]


@dataclass
class WeightPayload:
    version: int
    transport: Transport
    data: dict[str, torch.Tensor] | bytes


def pack(state_dict: dict[str, torch.Tensor], version: int, transport: Transport = "tensors") -> WeightPayload:
    if transport == "tensors":
        return WeightPayload(version, transport, state_dict)
    if transport == "safetensors":
        from safetensors.torch import save

        return WeightPayload(version, transport, save({k: v.contiguous() for k, v in state_dict.items()}))
    raise ValueError(f"unknown weight transport {transport!r}; expected 'tensors' or 'safetensors'")


def unpack(payload: WeightPayload) -> Iterator[tuple[str, torch.Tensor]]:
    if payload.transport == "tensors":
        assert isinstance(payload.data, dict)
        return iter(payload.data.items())
    from safetensors.torch import load

    assert isinstance(payload.data, bytes)
    return iter(load(payload.data).items())


class VLLMWeightLoader:
    """vLLM worker extension (`LLM(worker_extension_cls="actors.weight_sync.VLLMWeightLoader")`).

    On the CPU backend `model.load_weights` fails after vLLM repacks the weights; the worker's
    `reload_weights` path works on CPU and GPU alike (see FIELD_NOTES).
    """

    def rlsys_load_weights(self, payload: WeightPayload) -> int:
        self.reload_weights(weights_iterator=unpack(payload))  # type: ignore[attr-defined]
        return payload.version
