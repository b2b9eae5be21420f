"""The RL loop, top to bottom: sample prompts → generate → reward → advantages → train →
sync weights → log → checkpoint.

This is the one place that knows the order of things. Workers hold the state and the heavy
libraries (see `rlsys/cluster.py`); this file holds none.

Asynchronous rollouts (`algorithm.max_staleness` k > 0): the generation of steps t+1..t+k is
submitted (a future, `rlsys/ahead.py`) before step t trains, and each step takes the oldest one;
the order is still read top to bottom in `run_steps`. k = 0 submits and waits: the synchronous
loop. A learner rank that dies raises `LearnerDied`; `train` restarts the workers and resumes
from the last checkpoint up to `train.max_restarts` times (a dead rollout engine or reward
worker is replaced inside the cluster and never reaches this file).

Resume (`restore`): the newest complete checkpoint gives the step, the weight version and the
prompt stream's position; every prompt is sampled with a seed derived from the run seed and its
position in the stream (rlsys/core/data.py `sampling_seed`), so the steps after a resume draw
the prompts and samples an uninterrupted run would have drawn.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rlsys.ahead import Ahead, bound_staleness
from rlsys.cluster import InlineCluster, LearnerDied, RayCluster
from rlsys.core.batch import build_batch, group_signal, merge_learner_metrics
from rlsys.core.checkpoints import (
    checkpoint_dir,
    incomplete_checkpoints,
    latest_checkpoint,
    prune_checkpoints,
    read_trainer_state,
    remove_leftovers,
)
from rlsys.core.config import RLConfig
from rlsys.core.data import PromptStream, load_prompts
from rlsys.core.logs import ray_log_to_driver
from rlsys.core.tracking import RunLog
from rlsys.plots import plot_reward_curve


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
            ray.init(address=cfg.cluster.address, log_to_driver=ray_log_to_driver())
        else:
            ray.init(
                num_cpus=cfg.cluster.num_cpus or local_cpus(cfg),
                include_dashboard=False,
                log_to_driver=ray_log_to_driver(),
            )
    return RayCluster(cfg)


def local_cpus(cfg: RLConfig) -> int:
    """Logical CPUs for a local Ray: at least what the actors ask for. The phases of a step
    alternate, so asking for more than the machine's cores does not oversubscribe them."""
    import math
    import os

    c = cfg.cluster
    wanted = c.learner_cpus * cfg.learner.num_workers + c.rollout_cpus * cfg.rollout.num_workers + c.reward_cpus
    return max(os.cpu_count() or 1, math.ceil(wanted))


def train(cfg: RLConfig) -> Path | None:
    """Run the RL job described by `cfg`; returns the folder of the final checkpoint.

    A learner rank that dies raises `LearnerDied`; with `train.max_restarts` > 0 the workers are
    started again and the run continues from its newest complete checkpoint (`restore`)."""
    if not Path(cfg.model.path).is_dir():
        _missing_model(cfg.model.path)
    rows = load_prompts(cfg.data.path, cfg.data.prompt_key, cfg.rewards.default)  # fail fast on bad data
    stream = PromptStream(rows, seed=cfg.run.seed, shuffle=cfg.data.shuffle)
    log = RunLog(cfg.run.output_dir, cfg, cfg.train.steps)
    at, restarts = Position(), {"job": 0}
    try:
        while True:
            cluster = start_cluster(cfg)
            try:  # the first attempt resumes as configured; a restart from this job's own last checkpoint
                resume = None if restarts["job"] == 0 else bool(at.checkpoint) or cfg.train.resume
                if resume is False:
                    log.rewind(0)  # this job wrote no checkpoint: it starts again from step 0
                at = restore(cluster, cfg, stream, log, resume)
                return run_steps(cluster, cfg, stream, log, at, restarts)
            except LearnerDied as err:
                if restarts["job"] >= cfg.train.max_restarts:
                    raise RuntimeError(f"{err}; the job stops (train.max_restarts: {cfg.train.max_restarts})") from err
                restarts["job"] += 1
                log.console.print(
                    f"[yellow]{err}[/]: restarting the workers from the last checkpoint "
                    f"({restarts['job']} of train.max_restarts {cfg.train.max_restarts})"
                )
            finally:
                cluster.shutdown()
    finally:
        log.close()
        if log.metrics_path.exists():
            plot_reward_curve(log.metrics_path, log.dir / "reward_curve.png")


def run_steps(cluster, cfg: RLConfig, stream: PromptStream, log: RunLog, at: Position, restarts: dict) -> Path | None:
    """The steps from `at` to `train.steps`. With `algorithm.max_staleness` k > 0 the generation
    of steps t+1..t+k is submitted before step t trains (`Ahead`); with 0 each step's generation
    is submitted and waited for, which is the synchronous loop."""
    ahead = Ahead(cluster, stream, cfg)
    while at.step < cfg.train.steps:
        step, times = at.step + 1, dict[str, float]()
        step_start = time.perf_counter()
        ahead.submit_until(min(cfg.train.steps, step + cfg.algorithm.max_staleness), step)
        with phase(times, "generate"):  # waiting for it: the time it did not overlap with training
            job = ahead.take(step)
            samples, stale = bound_staleness(cluster, job, at.weight_version, cfg)
        samples, results, batch_rows, refill = draw_and_score(cluster, stream, cfg, times, (job.rows, samples))
        batch, metrics = build_batch(samples, results, cfg, max_groups=refill.get("dynamic_sampling/target_groups"))
        metrics.update(refill, **stale)
        train_start = time.perf_counter()
        with phase(times, "train"):
            if batch:
                total_tokens = sum(len(s.completion_ids) for s in batch)
                metrics.update(merge_learner_metrics(cluster.train(batch, total_tokens, len(batch))))
        times["time/overlap_s"] = cluster.generate_clock.overlap(train_start, time.perf_counter())
        version = at.weight_version
        if batch:  # no update, no new weights
            version += 1
            with phase(times, "weight_sync"):
                cluster.sync_weights(version)
        times["time/step_s"] = time.perf_counter() - step_start
        gen_tokens = sum(len(s.completion_ids) for s in samples)
        metrics.update(times, tokens_per_s=gen_tokens / times["time/step_s"], weight_version=version)
        metrics.update({f"restarts/{k}": v for k, v in {**restarts, **cluster.restarts}.items()})
        if cfg.train.log_samples:
            log.log_samples(
                step, sample_records(samples[: cfg.train.log_samples], results, batch_rows, job.position, cfg)
            )
        log.log(step, metrics)
        at.step, at.weight_version = step, version  # in place: train() restarts from at.checkpoint
        if step == cfg.train.steps or (cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0):
            at.checkpoint = checkpoint_dir(cfg.run.output_dir, step)
            # prompts drawn for steps still generating are drawn again after a resume
            data = {**stream.state_dict(), "position": ahead.untrained_position()}
            state = {"step": step, "weight_version": version, "data": data, "run_seed": cfg.run.seed}
            cluster.save_checkpoint(str(at.checkpoint), state)
            prune_checkpoints(cfg.run.output_dir, cfg.train.keep_checkpoints)
    return at.checkpoint


def draw_and_score(
    cluster, stream: PromptStream, cfg: RLConfig, times: dict[str, float], generated: tuple[list, list] | None = None
) -> tuple[list, list, list, dict]:
    """Score the step's `generated` (rows, samples; None: draw and generate them here) and return
    (samples, results, rows, metrics),
    where a sample's `prompt_index` points into rows. With `algorithm.dynamic_sampling`
    (DAPO), groups without signal are refilled from new prompts, at most `max_rounds` times;
    each refill draws the missing groups divided by the signal rate seen so far (at most 4x)."""
    want, ds = cfg.train.prompts_per_step, cfg.algorithm.dynamic_sampling
    rows: list[dict] = []
    samples: list = []
    results: list = []
    draw, rounds = want, 0
    while True:
        if generated:
            (new_rows, new), generated = generated, None
        else:
            new_rows, seeds = stream.next_prompts(draw)
            with phase(times, "generate"):
                new = cluster.generate([row[cfg.data.prompt_key] for row in new_rows], seeds)
        for s in new:  # indices into this step's rows, across rounds
            s.prompt_index += len(rows)
        rows += new_rows
        with phase(times, "reward"):
            scored, _ = cluster.score([s.completion for s in new], [rows[s.prompt_index] for s in new])
        samples += new
        results += scored
        if not ds.enabled:
            return samples, results, rows, {}
        have = int(group_signal(samples, results, cfg).sum())
        if have >= want or rounds == ds.max_rounds:
            break
        rounds += 1
        draw = math.ceil((want - have) / max(have / len(rows), 0.25))
    return (
        samples,
        results,
        rows,
        {
            "dynamic_sampling/target_groups": want,
            "dynamic_sampling/rounds": rounds,
            "dynamic_sampling/prompts": len(rows),
        },
    )


@dataclass
class Position:
    """Where the run stands: the last finished step, the engines' weight version, its checkpoint."""

    step: int = 0
    weight_version: int = 0
    checkpoint: Path | None = None


def restore(cluster, cfg: RLConfig, stream: PromptStream, log: RunLog, resume: bool | None = None) -> Position:
    """Bring a freshly started cluster to the newest complete checkpoint of the run folder:
    learner weights, optimizer, scheduler and RNG streams, the engines' weights and version, the
    prompt stream's position; the log forgets the steps after it. Without a checkpoint (or with
    `resume` off; default `train.resume`) the run starts at step 0. This is "restart from the
    last checkpoint": after a failure, start a new cluster and call it with `resume=True`."""
    run_dir = cfg.run.output_dir
    for gone in remove_leftovers(run_dir):
        log.console.print(f"removed the unfinished checkpoint {gone}")
    if not (cfg.train.resume if resume is None else resume):
        stream.position = 0
        return Position()
    for unfinished, why in incomplete_checkpoints(run_dir):
        log.console.print(f"[yellow]not resuming from {unfinished}[/]: {why}")
    path = latest_checkpoint(run_dir)
    if path is None:
        stream.position = 0
        log.rewind(0)  # an attempt that died before its first checkpoint is redone from the start
        return Position()
    state = read_trainer_state(path)
    cluster.load_checkpoint(str(path))
    for change in stream.load_state_dict(state["data"]):
        log.console.print(f"[yellow]resume is not exact[/]: {change} since {path} was written")
    log.rewind(state["step"])
    log.console.print(f"resumed from {path} at step {state['step']}")
    return Position(state["step"], state["weight_version"], path)


def sample_records(samples, results, rows, first: int, cfg: RLConfig) -> list[dict]:
    """samples.jsonl lines: where the prompt came from, what was sampled, how it was scored."""
    return [
        {
            "position": first + s.prompt_index,
            "prompt": rows[s.prompt_index][cfg.data.prompt_key],
            "completion": s.completion,
            "completion_ids": s.completion_ids,
            "reward": r.score,
            "status": r.status,
            "weight_version": s.weight_version,
        }
        for s, r in zip(samples, results)
    ]


def _missing_model(path: str) -> None:
    raise FileNotFoundError(
        f"model path {path!r} does not exist; point model.path at a local Hugging Face model folder "
        f"(or make a tiny one with `rlsys tiny-model {path}`)"
    )
