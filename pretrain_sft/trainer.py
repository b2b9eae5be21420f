"""The learner's cpt and sft modes, a stage's data, and one supervised stage run end to end.

Why: CPT, SFT and preference optimization are simpler modes of the RL learner. They reuse its
model loading, torch / DeepSpeed strategies, LR schedule and gradient clipping
(`actors.learner.Learner`, `actors.strategy`) and this package's data and loss layer; only the
loss and the batching differ. `run_stage` runs one pipeline stage: sources → examples (a bad row
fails here, before any model is loaded) → steps → validation → Hugging Face export.

A step takes `examples_per_step` examples from the weighted mixture (mixing.py; each pass over
the data is a new seeded epoch) and packs them best-fit into micro-batches of at most
`learner.micro_batch_tokens` tokens, one packed row per forward pass (position ids restart per
document, so attention never crosses documents; see packing.py). Each micro-batch's summed token
loss is divided by the loss-token count of the whole step before backward: the update is the
step's token mean however the step was split. cpt trains every token (but each document's first);
sft only assistant tokens. preference_trainer.py adds dpo / wpo on the same skeleton.

Validation: `validation_fraction` of each source's examples (seeded) is held out before mixing and
scored once, after the last step, with the training loss (`val/*` metrics of the last step).

Not covered: several data-parallel ranks (these stages run in one process; the RL stage is the
one that scales out), resuming inside a stage (the pipeline resumes whole stages), streaming data
(every example is tokenized up front), and a CPT document split by `on_overlength: split` whose
chunks land on both sides of the validation split (the split is over examples, not rows). Dropout
is left as the checkpoint sets it (0 in the Llama/Qwen/Gemma families).
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from pretrain_sft.data import DataError, DataStats, detect_kind, load_records
from pretrain_sft.examples import Example, build_examples
from pretrain_sft.formatting import make_formatter
from pretrain_sft.losses import masked_ce
from pretrain_sft.mixing import mix_indices, split_validation
from pretrain_sft.packing import collate_packed, pack_examples
from rlsys.config import MODE_KINDS, SourceConfig, SupervisedStage


# ---------------------------------------------------------------- data


@dataclasses.dataclass
class StageData:
    """A stage's examples: `train` holds each source's training examples back to back, in
    `sizes` order; `val` the held-out ones of every source."""

    train: list[Example]
    val: list[Example]
    sizes: dict[str, int]
    weights: dict[str, float]
    stats: dict[str, DataStats]

    @property
    def epoch_size(self) -> int:
        """Examples in one pass of the mixture: the training examples of the weighted sources."""
        return sum(n for name, n in self.sizes.items() if self.weights[name] > 0)


def source_kind(stage_type: str, source: SourceConfig, records) -> str:
    kind = detect_kind(records) if source.kind == "auto" else source.kind
    if stage_type == "sft" and kind == "parallel":
        kind = "parallel_chat"  # a translation pair becomes a user turn and an assistant turn
    if kind not in MODE_KINDS[stage_type]:
        expected = " or ".join(MODE_KINDS[stage_type])
        problem = f"{kind} rows do not fit a {stage_type} stage (expected {expected} rows)"
        raise DataError(problem, where=f"{records.path} (source {source.label!r})")
    return kind


def load_stage_data(stage: SupervisedStage, tokenizer, seed: int) -> StageData:
    """Read, format and split every source; raises `DataError` naming file, row and field."""
    on_overlength = stage.on_overlength or ("split" if stage.type == "cpt" else "truncate")
    train: list[Example] = []
    val: list[Example] = []
    sizes, stats = {}, {}
    for source in stage.sources:
        records = load_records(source.path)
        kind = source_kind(stage.type, source, records)
        options = {"seed": seed, "names": source.language_names or None} if kind in ("parallel", "parallel_chat") else {}
        stats[source.label] = DataStats()
        examples = build_examples(records, make_formatter(kind, tokenizer, **options), max_tokens=stage.max_tokens,
                                  on_overlength=on_overlength, stats=stats[source.label])
        if not examples:
            raise DataError(f"no examples left after on_overlength={on_overlength!r}", where=str(records.path))
        keep, held = list(range(len(examples))), []
        if stage.validation_fraction:
            if len(examples) < 2:
                problem = f"{len(examples)} example: too few to hold out a validation share"
                raise DataError(problem, where=str(records.path))
            keep, held = split_validation(len(examples), seed=seed, fraction=stage.validation_fraction)
        train += [examples[i] for i in keep]
        val += [examples[i] for i in held]
        sizes[source.label] = len(keep)
    return StageData(train, val, sizes, {s.label: s.weight for s in stage.sources}, stats)


def mixture_steps(data: StageData, *, seed: int, per_step: int) -> Iterator[list[int]]:
    """Indices into `data.train` for each step, forever: epoch e is `mix_indices(seed + e)`."""
    offsets, start = {}, 0
    for name, size in data.sizes.items():
        offsets[name], start = start, start + size
    pending: list[int] = []
    epoch = 0
    while True:
        while len(pending) < per_step:
            mixed = mix_indices(data.sizes, data.weights, seed=seed + epoch, num_samples=data.epoch_size)
            pending += [offsets[name] + i for name, i in mixed]
            epoch += 1
        yield pending[:per_step]
        pending = pending[per_step:]


def planned_steps(stage: SupervisedStage, data: StageData) -> int:
    return stage.steps or max(1, math.ceil(stage.epochs * data.epoch_size / stage.examples_per_step))


# ---------------------------------------------------------------- the learner in cpt / sft mode


class SupervisedLearner:
    """cpt / sft: packed causal-LM cross-entropy, through the RL learner's strategies.

    Subclasses change `prepare` (per-example work before training) and `step_parts` (one loss
    and its metrics per micro-batch, both already normalized over the whole step).
    """

    def __init__(self, model_path: str, stage: SupervisedStage, *, total_steps: int, dtype: str = "float32",
                 seed: int = 0):
        from actors.learner import Learner
        from rlsys.cluster import free_port

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


def make_learner(stage: SupervisedStage, model_path: str, **kwargs: Any) -> SupervisedLearner:
    if stage.type in ("dpo", "wpo"):
        from pretrain_sft.preference_trainer import PreferenceLearner

        return PreferenceLearner(model_path, stage, **kwargs)
    return SupervisedLearner(model_path, stage, **kwargs)


# ---------------------------------------------------------------- one stage


def run_stage(stage: SupervisedStage, model_path: str, out_dir: str | Path, *, dtype: str = "float32",
              seed: int = 0, console=None) -> dict[str, Any]:
    """Train one cpt / sft / dpo / wpo stage from `model_path`; export to `out_dir/final/hf`.

    Writes config.yaml, metrics.jsonl and TensorBoard events to `out_dir`. Returns the model
    folder, the step count, the last step's metrics (validation included) and per-source counts.
    """
    from transformers import AutoTokenizer

    from rlsys.tracking import RunLog

    start = time.perf_counter()
    data = load_stage_data(stage, AutoTokenizer.from_pretrained(model_path), seed)  # bad data fails here
    steps = planned_steps(stage, data)
    learner = make_learner(stage, model_path, total_steps=steps, dtype=dtype, seed=seed)
    log = RunLog(out_dir, stage, steps, console)
    try:
        prep_start = time.perf_counter()
        train, val = learner.prepare(data.train), learner.prepare(data.val)
        prep_s = time.perf_counter() - prep_start
        batches = mixture_steps(data, seed=seed, per_step=stage.examples_per_step)
        metrics: dict[str, float] = {}
        for step in range(1, steps + 1):
            step_start = time.perf_counter()
            metrics = learner.train_step([train[i] for i in next(batches)])
            if step == steps and val:
                metrics.update(learner.evaluate(val))
            metrics["epoch"] = step * stage.examples_per_step / data.epoch_size
            metrics["time/step_s"] = time.perf_counter() - step_start
            if step == 1:
                metrics["time/prepare_s"] = prep_s
            log.log(step, metrics)
        model_dir = learner.export(Path(out_dir) / "final")
    finally:
        log.close()
        learner.close()
    return {
        "model_dir": str(model_dir),
        "steps": steps,
        "metrics": metrics,
        "data": {name: s.as_dict() for name, s in data.stats.items()},
        "validation_examples": len(data.val),
        "time_s": time.perf_counter() - start,
    }
