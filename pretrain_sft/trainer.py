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

Not covered: several data-parallel ranks (these stages run in one process). Dropout is left as
the checkpoint sets it (0 in the Llama/Qwen/Gemma families).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from pretrain_sft.examples import Example
from pretrain_sft.losses import masked_ce
from pretrain_sft.packing import collate_packed, pack_examples
from rlsys.core.config import SupervisedStage



class SupervisedLearner:
    """cpt / sft: packed causal-LM cross-entropy, through the RL learner's strategies.

    Subclasses change `prepare` (per-example work before training) and `step_parts` (one loss
    and its metrics per micro-batch, both already normalized over the whole step).
    """

    def __init__(self, model_path: str, stage: SupervisedStage, *, total_steps: int, dtype: str = "float32",
                 seed: int = 0):
        from actors.learner import Learner
        from actors.distributed import free_port

        self.stage, self.cfg, self.dtype = stage, stage.learner, dtype
        self.base = Learner(model_path, stage.learner, total_steps=total_steps, dtype=dtype, seed=seed,
                            master_port=free_port())
        self.strategy, self.tokenizer = self.base.strategy, self.base.tokenizer
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.tokenizer.eos_token_id or 0)

    def prepare(self, examples: list[Example]) -> list[Any]:
        return examples

    def step_parts(self, examples: list[Any]) -> Iterator[tuple[torch.Tensor, dict[str, float]]]:
        rows = pack_examples(examples, self.cfg.micro_batch_tokens, strategy="best_fit")
        batches = [collate_packed([row], self.pad_id) for row in rows]
        total = max(1, sum(b["num_loss_tokens"] for b in batches))
        for batch in batches:
            with self.base.autocast():
                out = self.strategy.module(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                                           attention_mask=None, use_cache=False)
            loss_sum, count = masked_ce(out.logits, batch["labels"], reduction="sum")
            part = {"loss": float(loss_sum.detach()) / total, "loss_tokens": float(count),
                    "tokens": float(batch["input_ids"].numel()), "micro_batches": 1.0}
            yield loss_sum / total, part

    def train_step(self, examples: list[Any]) -> dict[str, float]:
        """One optimizer step on `examples`: backward per micro-batch, then clip and step."""
        metrics: dict[str, float] = {"lr": self.strategy.lr()}  # the rate this step uses
        for loss, part in self.step_parts(examples):
            self.strategy.backward(loss)
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
        """Model (safetensors) + tokenizer + chat template + generation config in `out/hf`."""
        hf = Path(out) / "hf"
        state = self.strategy.full_state_dict()
        module = self.strategy.module
        module.save_pretrained(hf, state_dict=state, safe_serialization=True)
        self.tokenizer.save_pretrained(hf)
        if getattr(module, "generation_config", None) is not None:
            module.generation_config.save_pretrained(hf)
        return hf

    def close(self) -> None:
        self.base.close()


def add_into(total: dict[str, float], part: dict[str, float]) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0.0) + value
