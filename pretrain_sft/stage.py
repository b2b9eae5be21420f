"""One supervised stage (cpt, sft, dpo, wpo) end to end: data -> learner -> steps -> export.

`run_stage` reads and formats the stage's sources (a bad row fails here, before any model is
loaded), trains `planned_steps` optimizer steps on the weighted mixture, scores the held-out
validation examples once after the last step (`val/*` metrics of the last step), and exports the
model in Hugging Face format to `out_dir/final/hf`.

With `learner.num_workers` > 1 the learner is that many Ray actors (`pretrain_sft/ranks.py`).

Resume inside a stage: with `checkpoint_every: N` the stage writes a checkpoint every N steps
(`out_dir/checkpoints/step_K/`, the same atomic writer as RL: rlsys/core/checkpoints.py) holding
the weights, optimizer, scheduler and RNG streams. A rerun continues from the newest complete
one at step K + 1 with the same batches (`mixture_steps(start_step=K)`): the mixture is a pure
function of the seed and the step. Reference log-probabilities of dpo / wpo are computed before
the checkpoint is loaded, so they come from the stage's input model, as in an uninterrupted run
(or from the frozen reference copy, also loaded from the input model). A checkpoint made with
another stage config, input model, seed or dtype is refused, naming what changed. The
checkpoints are deleted once the model is exported.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pretrain_sft.preference_trainer import PreferenceLearner
from pretrain_sft.stage_data import load_stage_data, mixture_steps, planned_steps
from pretrain_sft.trainer import SupervisedLearner
from rlsys.core.checkpoints import (
    checkpoint_dir,
    incomplete_checkpoints,
    latest_checkpoint,
    prune_checkpoints,
    read_trainer_state,
    remove,
    remove_leftovers,
    step_folders,
)
from rlsys.core.pipeline_config import DPOStage, SupervisedStage


def make_learner(stage: SupervisedStage, model_path: str, **kwargs: Any) -> SupervisedLearner:
    """The stage's learner in this process, or `learner.num_workers` ranks of it on Ray."""
    cls = PreferenceLearner if isinstance(stage, DPOStage) else SupervisedLearner  # dpo and wpo
    if stage.learner.num_workers > 1:
        from pretrain_sft.ranks import StageRanks

        return StageRanks(cls, model_path, stage, **kwargs)  # type: ignore[return-value]
    if isinstance(stage, DPOStage):
        return PreferenceLearner(model_path, stage, **kwargs)
    return SupervisedLearner(model_path, stage, **kwargs)


def run_stage(
    stage: SupervisedStage, model_path: str, out_dir: str | Path, *, dtype: str = "float32", seed: int = 0, console=None
) -> dict[str, Any]:
    """Train one cpt / sft / dpo / wpo stage from `model_path`; export to `out_dir/final/hf`.

    Writes config.yaml, metrics.jsonl and TensorBoard events to `out_dir`, and in-stage
    checkpoints with `stage.checkpoint_every`; continues from the newest one. Returns the model
    folder, the step count, the last step's metrics (validation included) and per-source counts.
    """
    from transformers import AutoTokenizer

    from rlsys.core.tracking import RunLog

    start = time.perf_counter()
    data = load_stage_data(stage, AutoTokenizer.from_pretrained(model_path), seed)  # bad data fails here
    steps = planned_steps(stage, data)
    learner = make_learner(stage, model_path, total_steps=steps, dtype=dtype, seed=seed)
    log = RunLog(out_dir, stage, steps, console)
    identity = {"input_model": str(model_path), "config": stage.model_dump(mode="json"), "seed": seed, "dtype": dtype}
    try:
        prep_start = time.perf_counter()
        # before any checkpoint is loaded: dpo / wpo reference log-probs are the input model's
        train, val = learner.prepare(data.train), learner.prepare(data.val)
        prep_s = time.perf_counter() - prep_start
        done = resume(learner, out_dir, identity, log)
        batches = mixture_steps(data, seed=seed, per_step=stage.examples_per_step, start_step=done)
        metrics: dict[str, float] = {}
        for step in range(done + 1, steps + 1):
            step_start = time.perf_counter()
            metrics = learner.train_step([train[i] for i in next(batches)])
            if step == steps and val:
                metrics.update(learner.evaluate(val))
            metrics["epoch"] = step * stage.examples_per_step / data.epoch_size
            metrics["time/step_s"] = time.perf_counter() - step_start
            if step == done + 1:
                metrics["time/prepare_s"] = prep_s
            log.log(step, metrics)
            if stage.checkpoint_every and step % stage.checkpoint_every == 0 and step < steps:
                learner.save_checkpoint(checkpoint_dir(out_dir, step), {"step": step, **identity})
                prune_checkpoints(out_dir, stage.keep_checkpoints)
        model_dir = learner.export(Path(out_dir) / "final")
        for folder in step_folders(out_dir):  # the exported model supersedes them
            remove(folder)
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


def resume(learner: SupervisedLearner, out_dir: str | Path, identity: dict[str, Any], log) -> int:
    """Load the newest complete in-stage checkpoint into `learner`; returns its step (0: none)."""
    for gone in remove_leftovers(out_dir):
        log.console.print(f"removed the unfinished checkpoint {gone}")
    for skipped, why in incomplete_checkpoints(out_dir):
        log.console.print(f"[yellow]not resuming from {skipped}[/]: {why}")
    path = latest_checkpoint(out_dir)
    if path is None:
        log.rewind(0)
        return 0
    state = read_trainer_state(path)
    changed = [k for k in identity if k != "config" and state.get(k) != identity[k]]
    saved_cfg = state.get("config", {})
    changed += [
        f"config.{k}"
        for k in sorted(saved_cfg.keys() | identity["config"].keys())
        if saved_cfg.get(k) != identity["config"].get(k)
    ]
    if changed:
        raise ValueError(
            f"{path} was written with a different {', '.join(changed)}; restore it, or delete "
            f"{Path(out_dir) / 'checkpoints'} to train the stage from its start"
        )
    learner.load_checkpoint(path)
    log.rewind(state["step"])
    log.console.print(f"resumed from {path} at step {state['step']}")
    return int(state["step"])
