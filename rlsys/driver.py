"""The RL loop, top to bottom: sample prompts → generate → reward → advantages → train →
sync weights → log → checkpoint.

This is the one place that knows the order of things. Workers hold the state and the heavy
libraries (see `rlsys/cluster.py`); this file holds none.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from pathlib import Path

from rlsys.cluster import InlineCluster, RayCluster
from rlsys.core.config import RLConfig
from rlsys.core.data import PromptStream, load_prompts
from rlsys.plots import plot_reward_curve
from rlsys.core.batch import build_batch, group_signal, merge_learner_metrics
from rlsys.core.tracking import RunLog, checkpoint_dir, latest_checkpoint, prune_checkpoints


@contextmanager
def phase(times: dict[str, float], name: str):
    start = time.perf_counter()
    yield
    key = f"time/{name}_s"
    times[key] = times.get(key, 0.0) + time.perf_counter() - start  # refill rounds add up


def start_cluster(cfg: RLConfig):
    if cfg.cluster.type == "inline":
        return InlineCluster(cfg)
    import ray

    if not ray.is_initialized():
        if cfg.cluster.address:
            ray.init(address=cfg.cluster.address)
        else:
            ray.init(num_cpus=cfg.cluster.num_cpus or local_cpus(cfg), include_dashboard=False)
    return RayCluster(cfg)


def local_cpus(cfg: RLConfig) -> int:
    """Logical CPUs for a local Ray: at least what the actors ask for. The phases of a step
    alternate, so asking for more than the machine's cores does not oversubscribe them."""
    import math
    import os

    c = cfg.cluster
    wanted = c.learner_cpus * cfg.learner.num_workers + c.rollout_cpus * cfg.rollout.num_workers + c.reward_cpus
    return max(os.cpu_count() or 1, math.ceil(wanted))


def train(cfg: RLConfig) -> Path:
    """Run the RL job described by `cfg`; returns the folder of the final checkpoint."""
    Path(cfg.model.path).is_dir() or _missing_model(cfg.model.path)
    rows = load_prompts(cfg.data.path, cfg.data.prompt_key, cfg.rewards.default)  # fail fast on bad data
    stream = PromptStream(rows, seed=cfg.run.seed, shuffle=cfg.data.shuffle)
    log = RunLog(cfg.run.output_dir, cfg, cfg.train.steps)
    cluster = start_cluster(cfg)
    try:
        step, version = 0, 0
        resume_from = latest_checkpoint(cfg.run.output_dir) if cfg.train.resume else None
        if resume_from is not None:
            state = cluster_resume(cluster, resume_from, stream)
            step, version = state["step"], state["weight_version"]
            log.console.print(f"resumed from {resume_from} at step {step}")
        final = resume_from
        while step < cfg.train.steps:
            times: dict[str, float] = {}
            step_start = time.perf_counter()
            samples, results, refill = draw_and_score(cluster, stream, cfg, times)
            batch, metrics = build_batch(samples, results, cfg, max_groups=refill.get("dynamic_sampling/target_groups"))
            metrics.update(refill)
            with phase(times, "train"):
                if batch:
                    total_tokens = sum(len(s.completion_ids) for s in batch)
                    metrics.update(merge_learner_metrics(cluster.train(batch, total_tokens, len(batch))))
            step += 1
            if batch:  # no update, no new weights
                version += 1
                with phase(times, "weight_sync"):
                    cluster.sync_weights(version)
            times["time/step_s"] = time.perf_counter() - step_start
            gen_tokens = sum(len(s.completion_ids) for s in samples)
            metrics.update(times, tokens_per_s=gen_tokens / times["time/step_s"], weight_version=version)
            log.log(step, metrics)
            if step == cfg.train.steps or (cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0):
                final = checkpoint_dir(cfg.run.output_dir, step)
                state = {"step": step, "weight_version": version, "data_position": stream.position}
                cluster.save_checkpoint(str(final), state)
                prune_checkpoints(cfg.run.output_dir, cfg.train.keep_checkpoints)
        return final
    finally:
        log.close()
        cluster.shutdown()
        if log.metrics_path.exists():
            plot_reward_curve(log.metrics_path, log.dir / "reward_curve.png")


def draw_and_score(cluster, stream: PromptStream, cfg: RLConfig, times: dict[str, float]) -> tuple[list, list, dict]:
    """Draw the step's prompts, generate and score them. With `algorithm.dynamic_sampling`
    (DAPO), groups without signal are refilled from new prompts, at most `max_rounds` times;
    each refill draws the missing groups divided by the signal rate seen so far (at most 4x)."""
    want, ds = cfg.train.prompts_per_step, cfg.algorithm.dynamic_sampling
    rows: list[dict] = []
    samples: list = []
    results: list = []
    draw, rounds = want, 0
    while True:
        new_rows = stream.next_batch(draw)
        with phase(times, "generate"):
            new = cluster.generate([row[cfg.data.prompt_key] for row in new_rows])
        for s in new:  # indices into this step's rows, across rounds
            s.prompt_index += len(rows)
        rows += new_rows
        with phase(times, "reward"):
            scored, _ = cluster.score([s.completion for s in new], [rows[s.prompt_index] for s in new])
        samples += new
        results += scored
        if not ds.enabled:
            return samples, results, {}
        have = int(group_signal(samples, results, cfg).sum())
        if have >= want or rounds == ds.max_rounds:
            break
        rounds += 1
        draw = math.ceil((want - have) / max(have / len(rows), 0.25))
    return samples, results, {"dynamic_sampling/target_groups": want, "dynamic_sampling/rounds": rounds,
                              "dynamic_sampling/prompts": len(rows)}


def cluster_resume(cluster, path: Path, stream: PromptStream) -> dict:
    import json

    state = json.loads((path / "trainer_state.json").read_text())
    cluster.load_checkpoint(str(path))
    stream.position = state["data_position"]
    return state


def _missing_model(path: str) -> None:
    raise FileNotFoundError(
        f"model path {path!r} does not exist; point model.path at a local Hugging Face model folder "
        f"(or make a tiny one with `rlsys tiny-model {path}`)"
    )
