"""The learner's cpt and sft modes: packed causal-LM cross-entropy on the RL learner's strategies.

Why: CPT, SFT and preference optimization are simpler modes of the RL learner. They reuse its
model loading, torch / DeepSpeed strategies, LR schedule and gradient clipping
(`actors.learner.Learner`, `actors.strategy`) and this package's data and loss layer; only the
loss and the batching differ (preference_trainer.py adds dpo / wpo on the same skeleton;
stage.py runs a whole stage).

A step's examples are packed best-fit into micro-batches of at most `learner.micro_batch_tokens`
tokens, one packed row per forward pass (position ids restart per document, so attention never
crosses documents; see packing.py). Each micro-batch's summed token loss is divided by the
loss-token count of the whole step before backward: the update is the step's token mean however
the step was split. cpt trains every token (but each document's first); sft only assistant tokens.

Several ranks (`learner.num_workers`, run by pretrain_sft/ranks.py): each rank gets a share of
the step's examples; the loss-token count is summed over the ranks before any backward, so the
update is still the token mean of the whole step, and every rank runs as many micro-batches as
the busiest one (idle ones: `Learner.idle_loss`). Metrics of a rank are its share of the step's
values (they add up over ranks).

Not covered: dropout (the model stays in eval mode, as in the RL learner).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from actors.checkpointing import save_hf
from pretrain_sft.examples import Example
from pretrain_sft.losses import masked_ce
from pretrain_sft.packing import collate_packed, pack_examples
from rlsys.core.pipeline_config import SupervisedStage


class SupervisedLearner:
    """cpt / sft: packed causal-LM cross-entropy, through the RL learner's strategies.

    Subclasses change `prepare` (per-example work before training) and `step_parts` (one loss
    and its metrics per micro-batch, both already normalized over the whole step).
    """

    def __init__(
        self,
        model_path: str,
        stage: SupervisedStage,
        *,
        total_steps: int,
        dtype: str = "float32",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        master_addr: str = "127.0.0.1",
        master_port: int | None = None,
        local_rank: int | None = None,
    ):
        from actors.distributed import free_port
        from actors.learner import Learner

        self.stage, self.cfg, self.dtype = stage, stage.learner, dtype
        self.base = Learner(
            model_path,
            stage.learner,
            total_steps=total_steps,
            dtype=dtype,
            seed=seed,
            rank=rank,
            world_size=world_size,
            master_addr=master_addr,
            master_port=master_port or free_port(),
            local_rank=local_rank,
        )
        self.rank, self.world_size, self.device = rank, world_size, self.base.device
        self.strategy, self.tokenizer = self.base.strategy, self.base.tokenizer
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.tokenizer.eos_token_id or 0)

    def prepare(self, examples: list[Example]) -> list[Any]:
        return examples

    def step_parts(self, examples: list[Any]) -> Iterator[tuple[torch.Tensor, dict[str, float]]]:
        """(loss, metrics) per micro-batch, both this rank's share of the whole step's values."""
        rows = pack_examples(examples, self.cfg.micro_batch_tokens, strategy="best_fit") if examples else []
        batches = [to_device(collate_packed([row], self.pad_id), self.device) for row in rows]
        total = max(1.0, self.base.global_sum(sum(b["num_loss_tokens"] for b in batches))[0])
        for k in range(self.base.lockstep(len(batches))):
            if k >= len(batches):
                yield self.base.idle_loss(full_model=True), {}
                continue
            batch = batches[k]
            with self.base.autocast():
                out = self.strategy.module(
                    input_ids=batch["input_ids"],
                    position_ids=batch["position_ids"],
                    attention_mask=None,
                    use_cache=False,
                    **self._attention_kwargs(batch),
                )
            loss_sum, count = masked_ce(out.logits, batch["labels"], reduction="sum")
            part = {
                "loss": float(loss_sum.detach()) / total,
                "loss_tokens": float(count),
                "tokens": float(batch["input_ids"].numel()),
                "micro_batches": 1.0,
            }
            yield loss_sum / total, part

    def _attention_kwargs(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Document boundaries for the varlen attention kernels (CUDA, half precision), known on
        the host, so that no layer waits for the GPU to find them."""
        if not self.base.varlen:
            return {}
        cu, longest = batch["cu_seqlens"], batch["max_seqlen"]
        return {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": longest, "max_length_k": longest}

    def train_step(self, examples: list[Any]) -> dict[str, float]:
        """One optimizer step on `examples` (this rank's share of the step): backward per
        micro-batch, then clip and step. Gradients are averaged over ranks, each rank's loss is
        its share of the step's: scaled by the world size, they add up to the step's."""
        metrics: dict[str, float] = {"lr": self.strategy.lr()}  # the rate this step uses
        for loss, part in self.step_parts(examples):
            self.strategy.backward(loss * self.world_size)
            add_into(metrics, part)
        metrics["grad_norm"] = self.strategy.step()
        return metrics

    @torch.no_grad()
    def evaluate(self, examples: list[Any]) -> dict[str, float]:
        """The training loss over `examples` as one batch, without updating: `val/*` metrics."""
        metrics: dict[str, float] = {}
        for _, part in self.step_parts(examples):
            add_into(metrics, part)
        return {f"val/{k}": v for k, v in metrics.items() if k != "micro_batches"}

    def save_checkpoint(self, path: Path, trainer_state: dict[str, Any]) -> None:
        """Weights, optimizer, scheduler and RNG streams, published atomically (actors/learner.py)."""
        self.base.save_checkpoint(str(path), trainer_state)

    def load_checkpoint(self, path: Path) -> None:
        self.base.load_checkpoint(str(path))

    def export(self, out: Path) -> Path:
        """Model (safetensors) + tokenizer + chat template + generation config in `out/hf`;
        every rank must call it (ZeRO-3 gathers), rank 0 writes."""
        hf = Path(out) / "hf"
        state = self.strategy.full_state_dict()
        if self.rank != 0:
            return hf
        return save_hf(self.strategy.module, state, self.tokenizer, hf)

    def close(self) -> None:
        self.base.close()


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The batch's tensors on `device` (other values as they are)."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def add_into(total: dict[str, float], part: dict[str, float]) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0.0) + value
