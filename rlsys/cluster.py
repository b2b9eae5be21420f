"""Where the RL workers run: on Ray (one actor per role and rank) or inline in this process.

Both classes offer the driver the same verbs, so `rlsys/driver.py` reads the same for either:
generate, score, train, sync_weights, save / load checkpoints, shutdown.
"""
from __future__ import annotations

import time
from typing import Any

from actors.distributed import free_port
from actors.learner import Learner
from rlsys.core.types import TrainSample
from actors.reward_worker import RewardWorker
from actors.rollout import RolloutWorker
from rlsys.core.types import Sample
from rlsys.core.config import RLConfig


def learner_kwargs(cfg: RLConfig, rank: int, port: int) -> dict[str, Any]:
    return dict(
        model_path=cfg.model.path, cfg=cfg.learner, algo=cfg.algorithm, total_steps=cfg.train.steps,
        temperature=cfg.rollout.temperature, max_completion_tokens=cfg.rollout.max_new_tokens, dtype=cfg.model.dtype, seed=cfg.run.seed, rank=rank,
        world_size=cfg.learner.num_workers, master_port=port,
    )


def split(items: list, n: int) -> list[list]:
    return [items[i::n] for i in range(n)]


class InlineCluster:
    """Every worker as a plain object in this process (one learner rank, one rollout worker)."""

    def __init__(self, cfg: RLConfig):
        if cfg.learner.num_workers != 1 or cfg.rollout.num_workers != 1:
            raise ValueError("cluster.type inline runs one learner and one rollout worker; use cluster.type ray")
        self.learner = Learner(**learner_kwargs(cfg, 0, free_port()))
        self.rollout = RolloutWorker(cfg.model.path, cfg.rollout, seed=cfg.run.seed, dtype=cfg.rollout_dtype)
        self.rewards = RewardWorker(cfg.rewards)

    def generate(self, prompts: list[Any], seeds: list[int] | None = None) -> list[Sample]:
        return self.rollout.generate(prompts, seeds=seeds)

    def score(self, completions: list[str], rows: list[dict]) -> tuple[list, float]:
        return self.rewards.score(completions, rows)

    def train(self, samples: list[TrainSample], total_tokens: int, total_seqs: int) -> list[dict[str, float]]:
        return [self.learner.train_step(samples, total_tokens, total_seqs)]

    def sync_weights(self, version: int) -> float:
        return self.rollout.update_weights(self.learner.export_weights(version))

    def save_checkpoint(self, path: str, state: dict) -> None:
        self.learner.save_checkpoint(path, state)

    def load_checkpoint(self, path: str) -> None:
        self.learner.load_checkpoint(path)
        self.sync_weights(state_version(path))

    def shutdown(self) -> None:
        self.rollout.shutdown()
        self.learner.close()


class RayCluster:
    """Learner ranks, rollout workers and a reward worker as Ray actors."""

    def __init__(self, cfg: RLConfig):
        import ray

        from actors.group import ActorGroup

        self.ray, self.cfg = ray, cfg
        c = cfg.cluster
        port = free_port()
        self.learners = ActorGroup(
            Learner, cfg.learner.num_workers, num_cpus=c.learner_cpus, num_gpus=c.gpus_per_learner,
            init=lambda rank: ((), learner_kwargs(cfg, rank, port)), name="learner",
        )
        self.rollouts = ActorGroup(
            RolloutWorker, cfg.rollout.num_workers, num_cpus=c.rollout_cpus, num_gpus=c.gpus_per_rollout,
            init=lambda rank: ((cfg.model.path, cfg.rollout), dict(seed=cfg.run.seed + rank, dtype=cfg.rollout_dtype)),
            name="rollout",
        )
        self.rewards = ActorGroup(RewardWorker, 1, num_cpus=c.reward_cpus, init=lambda _: ((cfg.rewards,), {}), name="reward")

    def generate(self, prompts: list[Any], seeds: list[int] | None = None) -> list[Sample]:
        n = len(self.rollouts.actors)
        parts = [list(range(len(prompts)))[i::n] for i in range(n)]
        futures = self.rollouts.run_each("generate", [
            (([prompts[j] for j in p],), {"seeds": None if seeds is None else [seeds[j] for j in p]}) for p in parts])
        samples: list[Sample] = []
        for part, result in zip(parts, self.ray.get(futures)):
            for s in result:
                s.prompt_index = part[s.prompt_index]
                samples.append(s)
        return sorted(samples, key=lambda s: s.prompt_index)  # stable: groups stay contiguous

    def score(self, completions: list[str], rows: list[dict]) -> tuple[list, float]:
        return self.ray.get(self.rewards.actors[0].score.remote(completions, rows))

    def train(self, samples: list[TrainSample], total_tokens: int, total_seqs: int) -> list[dict[str, float]]:
        shares = split(samples, len(self.learners.actors))
        return self.ray.get(self.learners.run_each("train_step", [((s, total_tokens, total_seqs), {}) for s in shares]))

    def sync_weights(self, version: int) -> float:
        start = time.perf_counter()
        exports = self.learners.run("export_weights", version)
        # rank 0's payload goes from the object store to the rollout actors, not via the driver
        self.ray.get(exports[1:] + self.rollouts.run("update_weights", exports[0]))
        return time.perf_counter() - start

    def save_checkpoint(self, path: str, state: dict) -> None:
        self.ray.get(self.learners.run("save_checkpoint", path, state))

    def load_checkpoint(self, path: str) -> None:
        self.ray.get(self.learners.run("load_checkpoint", path))
        self.sync_weights(state_version(path))

    def shutdown(self) -> None:
        self.ray.get(self.rollouts.run("shutdown"))
        self.ray.get(self.learners.run("close"))
        for group in (self.rollouts, self.learners, self.rewards):
            group.kill()


def state_version(path: str) -> int:
    from rlsys.core.checkpoints import read_trainer_state

    return int(read_trainer_state(path).get("weight_version", 0))
