"""The learner's dpo and wpo modes: preference pairs against the frozen stage-start model.

Why: Tower+ follows SFT with WPO; this adds the preference loss (losses.py: DPO with label
smoothing, WPO pair weights, the optional `rpo_alpha` NLL term) to the supervised learner's
skeleton (trainer.py), with the same strategies, clipping, schedule and export.

Reference log-probabilities come from the model the stage starts from:
- "precomputed" (default): the policy scores every training and validation pair once, before its
  first update; nothing else is kept in memory (one float pair per example).
- "model": a frozen second copy, loaded from the same folder, scores each micro-batch on the fly
  (twice the weights in memory; no pass before training).

Batching: pairs are not packed; a micro-batch is a right-padded [chosen rows; rejected rows]
batch (packing.pad_preference_batch) holding at most `learner.micro_batch_tokens` tokens padding
included, longest pairs first. The DPO/WPO loss is a mean over the step's pairs and the
`rpo_alpha` term a mean over the step's chosen tokens, however the step was split. WPO weights use
the current policy's logits of each micro-batch (losses.preference_loss).

Metrics per step: loss, pairs, tokens, lr, grad_norm, rewards/chosen, rewards/rejected,
rewards/margin (beta * log-ratios to the reference), rewards/accuracy, wpo/weight_mean (wpo) and
rpo/chosen_nll (rpo_alpha > 0).

Several ranks: each gets a share of the step's pairs (and of the pairs to score before
training); the pair and chosen-token counts are summed over ranks before any backward, so the
loss is still the mean over the step's pairs, and every rank runs as many micro-batches as the
busiest one (see trainer.py).

Not covered: packing pairs, reference models other than the stage-start model, IPO / SimPO.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch

from pretrain_sft.examples import Example, PreferenceExample
from pretrain_sft.losses import masked_ce, preference_loss, sequence_logprobs
from pretrain_sft.packing import pad_preference_batch
from pretrain_sft.trainer import SupervisedLearner, to_device
from rlsys.core.pipeline_config import DPOStage


@dataclasses.dataclass
class Pair:
    example: PreferenceExample
    ref: tuple[float, float] | None = None
    """Reference log p(chosen), log p(rejected); filled by the "precomputed" pass."""


def plan_pair_batches(lengths: list[int], budget: int) -> list[list[int]]:
    """Groups of pair indices whose padded batch (two rows per pair, each as wide as the group's
    longest pair) holds at most `budget` tokens; longest pairs first."""
    groups: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if 2 * lengths[i] > budget:
            raise ValueError(f"pair {i} needs {2 * lengths[i]} padded tokens, over micro_batch_tokens ({budget})")
        if groups and 2 * (len(groups[-1]) + 1) * lengths[groups[-1][0]] <= budget:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


class PreferenceLearner(SupervisedLearner):
    """dpo / wpo on preference pairs; see the module docstring."""

    stage: DPOStage  # WPOStage is a DPOStage

    def __init__(self, model_path: str, stage: DPOStage, **kwargs):
        super().__init__(model_path, stage, **kwargs)
        self.reference = None
        if stage.reference == "model":
            from transformers import AutoModelForCausalLM

            attn = getattr(self.strategy.module.config, "_attn_implementation", None)  # as the policy (gemma2: eager)
            self.reference = AutoModelForCausalLM.from_pretrained(
                model_path, dtype=getattr(torch, self.dtype), attn_implementation=attn
            )
            self.reference.eval().requires_grad_(False).to(self.device)

    def _groups(self, pairs: list[Pair]) -> list[list[Pair]]:
        plan = plan_pair_batches([len(p.example) for p in pairs], self.cfg.micro_batch_tokens)
        return [[pairs[i] for i in group] for group in plan]

    def _logits(self, model, batch: dict) -> torch.Tensor:
        with self.base.autocast():
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
        return out.logits

    @torch.no_grad()
    def _reference_logps(self, model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        chosen, rejected = sequence_logprobs(self._logits(model, batch), batch["labels"]).chunk(2)
        return chosen, rejected

    def prepare(self, examples: list[Example]) -> list[Pair]:
        """Wrap the examples; with "precomputed", score them with the not-yet-trained policy."""
        pairs = []
        for example in examples:
            if not isinstance(example, PreferenceExample):
                raise TypeError(f"{self.stage.type} trains on preference pairs, got a {type(example).__name__}")
            pairs.append(Pair(example))
        if self.reference is None:
            groups = self._groups(pairs) if pairs else []
            for k in range(self.base.lockstep(len(groups))):  # every rank takes part in the passes
                if k >= len(groups):
                    with torch.no_grad():
                        self.base.idle_loss(full_model=True)
                    continue
                batch = to_device(pad_preference_batch([p.example for p in groups[k]], self.pad_id), self.device)
                chosen, rejected = self._reference_logps(self.strategy.module, batch)
                for pair, c, r in zip(groups[k], chosen.tolist(), rejected.tolist()):
                    pair.ref = (c, r)
        return pairs

    def step_parts(self, pairs: list[Pair]) -> Iterator[tuple[torch.Tensor, dict[str, float]]]:
        stage = self.stage
        n_pairs, n_chosen = self.base.global_sum(len(pairs), sum(len(p.example.chosen_ids) for p in pairs))
        n_pairs, n_chosen = max(1.0, n_pairs), max(1.0, n_chosen)
        groups = self._groups(pairs) if pairs else []
        for k in range(self.base.lockstep(len(groups))):
            if k >= len(groups):
                yield self.base.idle_loss(full_model=True), {}
                continue
            group = groups[k]
            batch = to_device(pad_preference_batch([p.example for p in group], self.pad_id), self.device)
            logits = self._logits(self.strategy.module, batch)
            if self.reference is not None:
                ref_chosen, ref_rejected = self._reference_logps(self.reference, batch)
            else:
                ref_chosen, ref_rejected = torch.tensor(
                    [p.ref for p in group], dtype=torch.float32, device=self.device
                ).unbind(1)
            loss, m = preference_loss(
                logits,
                batch["labels"],
                ref_chosen,
                ref_rejected,
                beta=stage.beta,
                label_smoothing=stage.label_smoothing,
                weighting="wpo" if stage.type == "wpo" else "none",
                alignment=getattr(stage, "wpo_alignment", "sampled"),
                clamp_max=getattr(stage, "wpo_clamp_max", 1.0),
            )
            share = len(group) / n_pairs
            part = {
                "loss": float(loss.detach()) * share,
                "pairs": float(len(group)),
                "tokens": float(batch["attention_mask"].sum()),
                "micro_batches": 1.0,
                "rewards/chosen": float(m["chosen_rewards"].sum()) / n_pairs,
                "rewards/rejected": float(m["rejected_rewards"].sum()) / n_pairs,
                "rewards/margin": float(m["margins"].sum()) / n_pairs,
                "rewards/accuracy": float(m["accuracies"].sum()) / n_pairs,
            }
            if "wpo_weights" in m:
                part["wpo/weight_mean"] = float(m["wpo_weights"].sum()) / n_pairs
            total = loss * share
            if stage.rpo_alpha:  # SFT term on chosen tokens: a mean over the step's chosen tokens
                nll_sum, _ = masked_ce(logits[: len(group)], batch["labels"][: len(group)], reduction="sum")
                total = total + stage.rpo_alpha * nll_sum / n_chosen
                part["rpo/chosen_nll"] = float(nll_sum.detach()) / n_chosen
                part["loss"] += stage.rpo_alpha * part["rpo/chosen_nll"]
            yield total, part

    def close(self) -> None:
        self.reference = None
        super().close()
