"""How the learner's model is optimized: plain torch, or DeepSpeed ZeRO.

Both strategies expose the same five verbs to the learner: `backward(loss)` for each
micro-batch, `step()` once per optimizer step (clips, steps, schedules, zeroes and returns the
gradient norm), `full_state_dict()` for weight sync and export, `save(dir)` / `load(dir)` for
optimizer, scheduler and engine state.

DeepSpeed runs with `managed_gradient_accumulation: false`: the learner decides how many
micro-batches make a step (they are packed by token budget, so the count varies) and
`engine.step()` is the boundary. On CPU it uses the `gloo` backend; one process per rank.
"""
from __future__ import annotations

import math
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


def make_optimizer(model: torch.nn.Module, cfg: LearnerConfig, total_steps: int):
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, total_steps))
    return optimizer, scheduler


class TorchStrategy:
    """One process, plain torch AdamW."""

    world_size = 1
    rank = 0

    def __init__(self, model: torch.nn.Module, cfg: LearnerConfig, total_steps: int):
        self.model = model
        self.cfg = cfg
        self.optimizer, self.scheduler = make_optimizer(model, cfg, total_steps)

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def step(self) -> float:
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def full_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.model.state_dict().items()}

    def save(self, path: Path) -> None:
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}, path / "optim.pt")

    def load(self, path: Path) -> None:
        """Optimizer and scheduler state (the learner loads the weights from `hf/`)."""
        state = torch.load(path / "optim.pt", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def all_reduce_max(self, value: int) -> int:
        return value

    def close(self) -> None:
        pass


class DeepSpeedStrategy:
    """DeepSpeed ZeRO stage 0-3; gloo on CPU."""

    def __init__(self, model: torch.nn.Module, cfg: LearnerConfig, total_steps: int, *, dtype: str):
        import deepspeed

        self.cfg = cfg
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
        self.world_size = torch.distributed.get_world_size()
        self.rank = torch.distributed.get_rank()

    @property
    def module(self) -> torch.nn.Module:
        return self.engine.module

    def backward(self, loss: torch.Tensor) -> None:
        self.engine.backward(loss, scale_wrt_gas=False)

    def step(self) -> float:
        self.engine.step()
        norm = self.engine.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")

    def lr(self) -> float:
        return float(self.engine.get_lr()[0])

    def full_state_dict(self) -> dict[str, torch.Tensor]:
        """Every rank must call this (ZeRO-3 gathers the partitioned parameters)."""
        module = self.engine.module
        if self.cfg.zero_stage < 3:
            return {k: v.detach() for k, v in module.state_dict().items()}
        import deepspeed

        state = {}
        for name, param in module.named_parameters():
            with deepspeed.zero.GatheredParameters([param], modifier_rank=None):
                state[name] = param.detach().clone()
        persistent = module.state_dict().keys()  # not e.g. the rotary inv_freq: vLLM refuses it
        for name, buf in module.named_buffers():
            if name in persistent:
                state[name] = buf.detach().clone()
        return state

    def save(self, path: Path) -> None:
        """DeepSpeed's own checkpoint: every rank writes its optimizer partition; every rank calls it."""
        self.engine.save_checkpoint(str(path / "deepspeed"), tag="state")

    def load(self, path: Path) -> None:
        """Weights (strict), optimizer partitions and scheduler from DeepSpeed's checkpoint (any ZeRO stage)."""
        loaded, _ = self.engine.load_checkpoint(str(path / "deepspeed"), tag="state", load_module_strict=True)
        if loaded is None:
            raise FileNotFoundError(f"{path / 'deepspeed'}: no DeepSpeed checkpoint with tag 'state'")

    def all_reduce_max(self, value: int) -> int:
        tensor = torch.tensor([value], dtype=torch.int64)
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
        return int(tensor.item())

    def close(self) -> None:
        if torch.distributed.is_initialized():
            import deepspeed.comm

            torch.distributed.barrier()
            # DeepSpeed's destroy also drops its cached groups: a later init in this process works
            deepspeed.comm.destroy_process_group()
