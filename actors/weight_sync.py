"""Weight sync from the learner to the rollout engines, behind a small interface.

The learner exports a state dict with Hugging Face parameter names; a transport packs it for
the trip (`WeightSender.pack`) and the rollout side unpacks it into `(name, tensor)` pairs for
the engine (`WeightReceiver.unpack`); see `rlsys.core.interfaces`. Transports here:

- `tensors`: the dict itself. In one process (inline mode, in-process vLLM) nothing is copied;
  through Ray it travels in the object store (pickled once by `ray.put`, fetched by each
  rollout actor).
- `safetensors`: one bytes blob. Needed where tensors cannot cross as objects (vLLM in
  multi-process mode, HTTP); costs one serialization.

A new transport is one class with `name`, `pack` and `unpack`, added to `TRANSPORTS`.
Every payload carries the weight version it was exported at, and every rollout sample records
the version it was sampled with.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch

from rlsys.core.types import WeightPayload


class TensorsTransport:
    """The state dict as it is (in-process, or Ray's object store)."""

    name = "tensors"

    def pack(self, state_dict: Mapping[str, torch.Tensor], version: int) -> WeightPayload:
        return WeightPayload(version, self.name, dict(state_dict))

    def unpack(self, payload: WeightPayload) -> Iterator[tuple[str, torch.Tensor]]:
        return iter(payload.data.items())


class SafetensorsTransport:
    """One safetensors bytes blob (crosses process boundaries that only carry bytes)."""

    name = "safetensors"

    def pack(self, state_dict: Mapping[str, torch.Tensor], version: int) -> WeightPayload:
        from safetensors.torch import save

        return WeightPayload(version, self.name, save({k: v.contiguous() for k, v in state_dict.items()}))

    def unpack(self, payload: WeightPayload) -> Iterator[tuple[str, torch.Tensor]]:
        from safetensors.torch import load

        return iter(load(payload.data).items())


TRANSPORTS = {t.name: t for t in (TensorsTransport(), SafetensorsTransport())}
Transport = str
"""A key of `TRANSPORTS`."""


def transport(name: str):
    if name not in TRANSPORTS:
        raise ValueError(f"unknown weight transport {name!r}; expected one of {sorted(TRANSPORTS)}")
    return TRANSPORTS[name]


def pack(state_dict: Mapping[str, torch.Tensor], version: int, name: str = "tensors") -> WeightPayload:
    return transport(name).pack(state_dict, version)


def unpack(payload: WeightPayload) -> Iterator[tuple[str, torch.Tensor]]:
    return transport(payload.transport).unpack(payload)


class VLLMWeightLoader:
    """vLLM worker extension (`LLM(worker_extension_cls="actors.weight_sync.VLLMWeightLoader")`).

    On the CPU backend `model.load_weights` fails after vLLM repacks the weights; the worker's
    `reload_weights` path works on CPU and GPU alike (see FIELD_NOTES).
    """

    def rlsys_load_weights(self, payload: WeightPayload) -> int:
        self.reload_weights(weights_iterator=unpack(payload))  # type: ignore[attr-defined]
        return payload.version
