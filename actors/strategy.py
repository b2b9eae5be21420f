"""How the learner's model is optimized: plain torch, or DeepSpeed ZeRO, on the learner's device.

Both strategies expose the same verbs to the learner (`rlsys.core.interfaces.Strategy`):
`backward(loss)` for each micro-batch, `step()` once per optimizer step (clips, steps,
schedules, zeroes and returns the gradient norm), `iter_full_params()` / `full_state_dict()`
for weight sync and export, `save(dir)` / `load(dir)` for optimizer, scheduler and engine state.

Devices: the learner picks one (`actors.distributed.local_device`: its GPU, or the CPU) and
both strategies keep the model, its gradients and the optimizer state there. The torch strategy
moves the model itself (fused AdamW on CUDA); DeepSpeed moves it (or, under ZeRO-3, its
partitions) when it wraps it. `bf16` weights under DeepSpeed keep fp32 master weights in the
optimizer; the torch strategy trains the weights in the dtype they were loaded in (pair fp32
weights with `learner.autocast` for mixed precision).

Several ranks: gradients are AVERAGED over ranks (DeepSpeed's and DDP's convention), so a
caller whose loss is its rank's share of the global batch multiplies it by the world size. The
torch strategy all-reduces the accumulated gradients in `step()` (like DDP without overlapping
communication with backward); DeepSpeed reduces (ZeRO-1/2) or reduce-scatters (ZeRO-3) them.

DeepSpeed runs with `managed_gradient_accumulation: false`: the learner decides how many
micro-batches make a step (they are packed by token budget, so the count varies) and
`engine.step()` is the boundary.

Not covered: ZeRO-3 initialization without a full copy of the model per rank (`zero.Init` /
`HfDeepSpeedConfig`: every rank loads the whole model before DeepSpeed partitions it), CPU
offload of optimizer state, FSDP.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from rlsys.core.config import LearnerConfig


def lr_lambda(cfg: LearnerConfig, total_steps: int):
    """LR multiplier per optimizer step; `total_steps` counts optimizer steps (an RL learner
    makes `epochs_per_step` of them per RL step), `warmup_steps` too."""

    def schedule(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
        progress = min(max(progress, 0.0), 1.0)
        if cfg.lr_schedule == "linear":
            return 1.0 - progress
        if cfg.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    return schedule


def make_optimizer(model: torch.nn.Module, cfg: LearnerConfig, total_steps: int, *, fused: bool = False):
    """AdamW over the trainable parameters (`fused`: one CUDA kernel for the whole update)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay, fused=fused or None
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, total_steps))
    return optimizer, scheduler


def host_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A tensor for export that owns its memory and lives on the host.

    GPU tensors are copied to the CPU. On the CPU, a tensor that is a view of a larger storage
    is cloned (ZeRO-1/2 parameters are views of one flat buffer: pickling a view, as Ray's object
    store does, writes the whole buffer once per tensor: 5.2 GB for an 18M-parameter model);
    any other CPU tensor is returned as it is (in one process nothing is copied).
    """
    tensor = tensor.detach()
    if tensor.device.type != "cpu":
        return tensor.to("cpu")
    if tensor.untyped_storage().nbytes() > tensor.numel() * tensor.element_size():
        return tensor.clone()
    return tensor


def full_state_dict(strategy: Any) -> dict[str, torch.Tensor]:
    """Host copies of the full weights on rank 0 ({} on the other ranks); every rank must call it.

    Parameters are gathered one at a time (`iter_full_params`): rank 0 holds one full copy
    (the one it returns), the other ranks never more than one gathered parameter."""
    state = {}
    for name, tensor in strategy.iter_full_params():
        if strategy.rank == 0:
            state[name] = host_copy(tensor)
    return state


class TorchStrategy:
    """Plain torch AdamW on one device; several ranks average their gradients in `step()`."""

    def __init__(
        self, model: torch.nn.Module, cfg: LearnerConfig, total_steps: int, device: torch.device = torch.device("cpu")
    ):
        self.model = model.to(device)
        self.cfg, self.device = cfg, device
        dist = torch.distributed
        self.world_size = dist.get_world_size() if dist.is_initialized() else 1
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.optimizer, self.scheduler = make_optimizer(model, cfg, total_steps, fused=device.type == "cuda")

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def step(self) -> float:
        if self.world_size > 1:
            self._average_gradients()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def _average_gradients(self, bucket_bytes: int = 64 << 20) -> None:
        """All-reduce the accumulated gradients in flat buckets and divide by the world size."""
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        params = [p for p in self.model.parameters() if p.requires_grad]
        grads: list[torch.Tensor] = []
        for p in params:  # a parameter no micro-batch of this rank touched still takes part
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        bucket: list[torch.Tensor] = []
        size = 0
        for i, grad in enumerate(grads):
            bucket.append(grad)
            size += grad.numel() * grad.element_size()
            if size >= bucket_bytes or i == len(grads) - 1:
                flat = _flatten_dense_tensors(bucket)
                torch.distributed.all_reduce(flat)
                flat /= self.world_size
                for target, reduced in zip(bucket, _unflatten_dense_tensors(flat, bucket)):
                    target.copy_(reduced)
                bucket, size = [], 0

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def iter_full_params(self) -> Iterator[tuple[str, torch.Tensor]]:
        """(name, tensor) of the full state dict, on the learner's device."""
        for name, tensor in self.model.state_dict().items():
            yield name, tensor.detach()

    def full_state_dict(self) -> dict[str, torch.Tensor]:
        return full_state_dict(self)

    def save(self, path: Path) -> None:
        """Optimizer and scheduler state; rank 0 writes it (every rank holds the same state)."""
        if self.rank == 0:
            state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}
            torch.save(state, path / "optim.pt")

    def load(self, path: Path) -> None:
        """Optimizer and scheduler state (the learner loads the weights from `hf/`), onto this
        rank's device."""
        state = torch.load(path / "optim.pt", weights_only=True, map_location=self.device)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def all_reduce_max(self, value: int) -> int:
        return all_reduce_max(value, self.world_size, self.device)

    def close(self) -> None:
        if self.world_size > 1 and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def all_reduce_max(value: int, world_size: int, device: torch.device) -> int:
    """The largest `value` over the ranks (a tensor on the rank's device: NCCL reduces CUDA tensors)."""
    if world_size == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.int64, device=device)
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
    return int(tensor.item())


class DeepSpeedStrategy:
    """DeepSpeed ZeRO stage 0-3 (NCCL on CUDA, gloo on CPU); the process group must exist."""

    def __init__(
        self,
        model: torch.nn.Module,
        cfg: LearnerConfig,
        total_steps: int,
        *,
        dtype: str,
        device: torch.device = torch.device("cpu"),
    ):
        import deepspeed

        from actors.ds_ops import prebuild_shm_op

        prebuild_shm_op()  # never waits behind a build killed earlier (actors/ds_ops.py)
        deepspeed.init_distributed(dist_backend=torch.distributed.get_backend(), auto_mpi_discovery=False)
        self.cfg, self.device = cfg, device
        optimizer, scheduler = make_optimizer(model, cfg, total_steps)
        ds_config: dict[str, Any] = {
            "train_micro_batch_size_per_gpu": 1,
            "gradient_accumulation_steps": 1,
            "managed_gradient_accumulation": False,
            "gradient_clipping": cfg.grad_clip,
            "zero_optimization": {"stage": cfg.zero_stage},
            "bf16": {"enabled": dtype == "bfloat16"},
            "fp16": {"enabled": dtype == "float16"},
            "steps_per_print": 10**9,
            "zero_allow_untested_optimizer": True,
        }
        self.engine, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config
        )
        if self.engine.device != device:
            raise RuntimeError(f"DeepSpeed placed the model on {self.engine.device}, the learner expects {device}")
        self.world_size = torch.distributed.get_world_size()
        self.rank = torch.distributed.get_rank()

    @property
    def module(self) -> torch.nn.Module:
        return self.engine.module

    def backward(self, loss: torch.Tensor) -> None:
        """The engine's backward, with the bookkeeping its `forward` would have done: the learner
        runs the model's submodules itself (log-probabilities of completion tokens only), so
        `engine.forward` never ran. Without it ZeRO-3 copies each micro-batch's gradients over
        the previous ones instead of adding them (tests/test_learner_ranks.py)."""
        from deepspeed.runtime.base_optimizer import ZeROOptimizer
        from deepspeed.runtime.utils import register_output_backward_hooks

        engine = self.engine
        if isinstance(engine.optimizer, ZeROOptimizer):
            engine.optimizer.clear_backward_seen_flag()  # engine.forward's first call
        register_output_backward_hooks(
            loss,
            preprocess_once_fn=engine._backward_prologue,
            preprocess_per_tensor_fn=engine._backward_prologue_per_tensor,
        )
        engine.backward(loss, scale_wrt_gas=False)

    def step(self) -> float:
        self.engine.step()
        norm = self.engine.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")

    def lr(self) -> float:
        return float(self.engine.get_lr()[0])

    def iter_full_params(self) -> Iterator[tuple[str, torch.Tensor]]:
        """(name, full tensor) one at a time, on the learner's device; every rank must iterate
        to the end. Under ZeRO-3 each parameter is all-gathered for the time of its item only:
        copy what you keep before taking the next one."""
        import deepspeed

        for name, tensor in self.engine.module.state_dict(keep_vars=True).items():
            if hasattr(tensor, "ds_id"):  # a ZeRO-3 partition
                with deepspeed.zero.GatheredParameters([tensor], modifier_rank=None):
                    yield name, tensor.detach()
            else:
                yield name, tensor.detach()

    def full_state_dict(self) -> dict[str, torch.Tensor]:
        return full_state_dict(self)

    def save(self, path: Path) -> None:
        """DeepSpeed's own checkpoint: every rank writes its optimizer partition; every rank calls it."""
        self.engine.save_checkpoint(str(path / "deepspeed"), tag="state")

    def load(self, path: Path) -> None:
        """Weights (strict), optimizer partitions and scheduler from DeepSpeed's checkpoint (any ZeRO stage)."""
        loaded, _ = self.engine.load_checkpoint(str(path / "deepspeed"), tag="state", load_module_strict=True)
        if loaded is None:
            raise FileNotFoundError(f"{path / 'deepspeed'}: no DeepSpeed checkpoint with tag 'state'")

    def all_reduce_max(self, value: int) -> int:
        return all_reduce_max(value, self.world_size, self.device)

    def close(self) -> None:
        if torch.distributed.is_initialized():
            import deepspeed.comm

            torch.distributed.barrier()
            # DeepSpeed's destroy also drops its cached groups: a later init in this process works
            deepspeed.comm.destroy_process_group()
