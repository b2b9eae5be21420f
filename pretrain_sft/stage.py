"""One supervised stage (cpt, sft, dpo, wpo) end to end: data -> learner -> steps -> export.

`run_stage` reads and formats the stage's sources (a bad row fails here, before any model is
loaded), trains `planned_steps` optimizer steps on the weighted mixture, scores the held-out
validation examples once after the last step (`val/*` metrics of the last step), and exports the
model in Hugging Face format to `out_dir/final/hf`.

With `learner.num_workers` > 1 the learner is that many Ray actors (`pretrain_sft/ranks.py`).

Not covered: resuming inside a stage (the pipeline resumes whole stages).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pretrain_sft.preference_trainer import PreferenceLearner
from pretrain_sft.stage_data import load_stage_data, mixture_steps, planned_steps
from pretrain_sft.trainer import SupervisedLearner
from rlsys.core.config import SupervisedStage


def make_learner(stage: SupervisedStage, model_path: str, **kwargs: Any) -> SupervisedLearner:
    """The stage's learner in this process, or `learner.num_workers` ranks of it on Ray."""
    cls = PreferenceLearner if stage.type in ("dpo", "wpo") else SupervisedLearner
    if stage.learner.num_workers > 1:
        from pretrain_sft.ranks import StageRanks

        return StageRanks(cls, model_path, stage, **kwargs)  # type: ignore[return-value]
    return cls(model_path, stage, **kwargs)



def run_stage(stage: SupervisedStage, model_path: str, out_dir: str | Path, *, dtype: str = "float32",
              seed: int = 0, console=None) -> dict[str, Any]:
    """Train one cpt / sft / dpo / wpo stage from `model_path`; export to `out_dir/final/hf`.

    Writes config.yaml, metrics.jsonl and TensorBoard events to `out_dir`. Returns the model
    folder, the step count, the last step's metrics (validation included) and per-source counts.
    """
    from transformers import AutoTokenizer

    from rlsys.core.tracking import RunLog

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
