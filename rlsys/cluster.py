"""Where the RL workers run: on Ray (one actor per role and rank) or inline in this process.

Both classes offer the driver the same verbs, so `rlsys/driver.py` reads the same for either:
generate, score, train, sync_weights, save / load checkpoints, shutdown.
"""
from __future__ import annotations

import time
from typing import Any

from actors.distributed import free_port
from actors.learner import Learner, split_by_tokens
from rlsys.core.types import TrainSample
from actors.reward_worker import RewardWorker
from actors.rollout import RolloutWorker
from rlsys.core.types import Sample
from rlsys.core.config import RLConfig


def learner_kwargs(cfg: RLConfig, rank: int, address: tuple[str, int], local_rank: int | None = None) -> dict[str, Any]:
    """`address`: where the learner ranks meet (rank 0's node IP and a free port there)."""
    return dict(
        model_path=cfg.model.path, cfg=cfg.learner, algo=cfg.algorithm, total_steps=cfg.train.steps,
        temperature=cfg.rollout.temperature, max_completion_tokens=cfg.rollout.max_new_tokens, dtype=cfg.model.dtype, seed=cfg.run.seed, rank=rank,
        world_size=cfg.learner.num_workers, master_addr=address[0], master_port=address[1], local_rank=local_rank,
    )


class InlineCluster:
    """Every worker as a plain object in this process (one learner rank, one rollout worker)."""

    def __init__(self, cfg: RLConfig):
        if cfg.learner.num_workers != 1 or cfg.rollout.num_workers != 1:
            raise ValueError("cluster.type inline runs one learner and one rollout worker; use cluster.type ray")
        self.learner = Learner(**learner_kwargs(cfg, 0, ("127.0.0.1", free_port())))
        self.rollout = RolloutWorker(cfg.model.path, cfg.rollout, seed=cfg.run.seed, dtype=cfg.rollout_dtype)
        self.rewards = RewardWorker(cfg.rewards)

    def generate(self, prompts: list[Any]) -> list[Sample]:
        return self.rollout.generate(prompts)

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
        self.learners = ActorGroup.ranks(  # local_rank 0: Ray shows each learner actor only its own GPU(s)
            Learner, cfg.learner.num_workers, num_cpus=c.learner_cpus, num_gpus=c.gpus_per_learner, name="learner",
            init=lambda rank, address: ((), learner_kwargs(cfg, rank, address, local_rank=0)),
        )
        self.rollouts = ActorGroup(
            RolloutWorker, cfg.rollout.num_workers, num_cpus=c.rollout_cpus, num_gpus=c.gpus_per_rollout,
            init=lambda rank: ((cfg.model.path, cfg.rollout), dict(seed=cfg.run.seed + rank, dtype=cfg.rollout_dtype)),
            name="rollout",
        )
        self.rewards = ActorGroup(RewardWorker, 1, num_cpus=c.reward_cpus, init=lambda _: ((cfg.rewards,), {}), name="reward")

    def generate(self, prompts: list[Any]) -> list[Sample]:
        n = len(self.rollouts.actors)
        parts = [list(range(len(prompts)))[i::n] for i in range(n)]
        futures = self.rollouts.run_each("generate", [(([prompts[j] for j in p],), {}) for p in parts])
        samples: list[Sample] = []
        for part, result in zip(parts, self.ray.get(futures)):
            for s in result:
                s.prompt_index = part[s.prompt_index]
                samples.append(s)
        return sorted(samples, key=lambda s: s.prompt_index)  # stable: groups stay contiguous

    def score(self, completions: list[str], rows: list[dict]) -> tuple[list, float]:
        return self.ray.get(self.rewards.actors[0].score.remote(completions, rows))

    def train(self, samples: list[TrainSample], total_tokens: int, total_seqs: int) -> list[dict[str, float]]:
        return self.ray.get(train_on_ranks(self.learners, samples, total_tokens, total_seqs))

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


def train_on_ranks(learners: Any, samples: list[TrainSample], total_tokens: int, total_seqs: int) -> list[Any]:
    """`train_step` futures of every learner rank, each on a share of `samples` with about as many
    tokens as the others (`total_*` count the whole batch: the loss is normalized over it)."""
    shares = split_by_tokens([len(s) for s in samples], len(learners.actors))
    return learners.run_each("train_step", [(([samples[i] for i in share], total_tokens, total_seqs), {})
                                            for share in shares])


def state_version(path: str) -> int:
    import json
    from pathlib import Path

    return int(json.loads((Path(path) / "trainer_state.json").read_text()).get("weight_version", 0))
