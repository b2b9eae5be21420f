"""Weight sync from the learner to the rollout engines, behind a small interface.

The learner exports a state dict with Hugging Face parameter names; a transport packs it for
the trip (`WeightSender.pack`) and the rollout side unpacks it into `(name, tensor)` pairs for
the engine (`WeightReceiver.unpack`); see `rlsys.core.interfaces`. Transports here:

- `tensors`: the dict itself. In one process (inline mode, in-process vLLM) nothing is copied:
  the engine reads the learner's tensors. Through Ray it travels in the object store, its
  tensors as out-of-band byte buffers (`ZeroCopyTensors`): `ray.put` copies each one once into
  shared memory and each rollout actor maps them without a copy (torch's own pickling would
  `torch.save` every tensor to bytes, copy those in, and copy them out again).
- `safetensors`: one bytes blob. Needed where tensors cannot cross as objects (vLLM in
  multi-process mode, HTTP); costs one serialization.

A new transport is one class with `name`, `pack` and `unpack`, added to `TRANSPORTS`.
Every payload carries the weight version it was exported at, and every rollout sample records
the version it was sampled with.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from rlsys.core.types import WeightPayload


class ZeroCopyTensors(dict):
    """A name -> tensor dict whose pickle (protocol 5) carries each tensor's bytes out of band.

    Ray's object store writes out-of-band buffers straight into shared memory and hands them to
    readers as read-only views, so a weight payload costs one copy in and none out. Unpickled
    tensors are read-only views of the store's memory: the engine copies them into its own
    weights at load, and nothing may write to them."""

    def __reduce__(self):  # type: ignore[override]
        return _rebuild_tensors, ([(k, _byte_view(v), str(v.dtype), tuple(v.shape)) for k, v in self.items()],)


def _byte_view(tensor: torch.Tensor) -> Any:
    """The tensor's bytes as a uint8 NumPy array (no copy for a contiguous CPU tensor)."""
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()


def _rebuild_tensors(items: list[tuple[str, Any, str, tuple[int, ...]]]) -> dict[str, torch.Tensor]:
    import warnings

    out = {}
    with warnings.catch_warnings():  # the store's buffers are read-only; torch warns once per process
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        for name, data, dtype, shape in items:
            out[name] = torch.from_numpy(data).view(getattr(torch, dtype.removeprefix("torch."))).reshape(shape)
    return out


class TensorsTransport:
    """The state dict as it is (in-process, or Ray's object store, zero-copy on the reader)."""

    name = "tensors"

    def pack(self, state_dict: Mapping[str, torch.Tensor], version: int) -> WeightPayload:
        return WeightPayload(version, self.name, ZeroCopyTensors(state_dict))

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
