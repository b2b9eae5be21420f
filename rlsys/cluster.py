"""Where the RL workers run: on Ray (one actor per role and rank) or inline in this process.

Both classes offer the driver the same verbs, so `rlsys/driver.py` reads the same for either:
generate, score, train, sync_weights, save / load checkpoints, shutdown.

On Ray, the rollout side: `rollout.num_workers` engines get prompts balanced by pending work
(`rlsys.dispatch`); weights reach them through the object store or a collective broadcast
(`rollout.weight_transport`, `actors.weight_sync`); with `cluster.placement: colocated` engine
i shares learner rank i's bundle and sleeps while the learners train.
"""
from __future__ import annotations

import time
from typing import Any

from actors.distributed import free_port
from actors.learner import Learner, split_by_tokens
from rlsys.core.types import TrainSample
from actors.reward_worker import RewardWorker
from actors.rollout import RolloutWorker
from rlsys.core.types import Sample, WeightPayload
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
        learner_resources, rollout_resources = self._placement()
        self.learners = ActorGroup.ranks(  # local_rank 0: Ray shows each learner actor only its own GPU(s)
            Learner, cfg.learner.num_workers, **learner_resources, name="learner",
            init=lambda rank, address: ((), learner_kwargs(cfg, rank, address, local_rank=0)),
        )
        self.rollouts = ActorGroup(
            RolloutWorker, cfg.rollout.num_workers, **rollout_resources,
            init=lambda rank: ((cfg.model.path, cfg.rollout), dict(seed=cfg.run.seed + rank, dtype=cfg.rollout_dtype,
                                                                     sleep_mode=self.colocated)),
            name="rollout",
        )
        self.rewards = ActorGroup(RewardWorker, 1, num_cpus=c.reward_cpus, init=lambda _: ((cfg.rewards,), {}), name="reward")
        if cfg.rollout.weight_transport == "collective":
            self._join_weight_group()

    # ------------------------------------------------------------ rollout side

    def _placement(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """ActorGroup resources of the learners and the engines for `cluster.placement`."""
        from actors.group import reserve_bundles

        c = self.cfg.cluster
        self.colocated = c.placement == "colocated"
        self.shared_pg = None
        if not self.colocated:
            return (dict(num_cpus=c.learner_cpus, num_gpus=c.gpus_per_learner),
                    dict(num_cpus=c.rollout_cpus, num_gpus=c.gpus_per_rollout))
        # bundle i: learner rank i and engine i, each with half of the bundle's GPUs (the same devices)
        bundle = {"CPU": c.learner_cpus + c.rollout_cpus, "GPU": c.gpus_per_learner}
        self.shared_pg = reserve_bundles(self.cfg.learner.num_workers, bundle, "learner + rollout (colocated)")
        share = c.gpus_per_learner / 2
        return (dict(num_cpus=c.learner_cpus, num_gpus=share, placement=self.shared_pg),
                dict(num_cpus=c.rollout_cpus, num_gpus=share, placement=self.shared_pg))

    def _join_weight_group(self) -> None:
        """Form the collective transport's group: learner rank 0 and every worker of every engine."""
        tp = self.cfg.rollout.tensor_parallel_size
        n = len(self.rollouts.actors)
        world = 1 + n * tp
        rank0 = self.learners.actors[0]
        host, port = self.ray.get(rank0.open_weight_group.remote(world))
        joins = [rank0.join_weight_group.remote(world)]
        joins += self.rollouts.run_each("join_weight_group", [((host, port, 1 + i * tp, world), {}) for i in range(n)])
        try:
            self.ray.get(joins, timeout=600)
        except self.ray.exceptions.GetTimeoutError:
            raise RuntimeError(f"the weight group at {host}:{port} did not form in 600 s ({world} members): can "
                               "every engine's node reach learner rank 0's node on that port?") from None

    def generate(self, prompts: list[Any], seeds: list[int] | None = None) -> list[Sample]:
        from rlsys.dispatch import generate_balanced

        r = self.cfg.rollout
        return generate_balanced(self.rollouts.actors, prompts, r.samples_per_prompt, r.prompts_per_request,
                                 seeds=seeds)

    def score(self, completions: list[str], rows: list[dict]) -> tuple[list, float]:
        return self.ray.get(self.rewards.actors[0].score.remote(completions, rows))

    def train(self, samples: list[TrainSample], total_tokens: int, total_seqs: int) -> list[dict[str, float]]:
        if self.colocated:  # the learners get the engines' device memory until the weight sync
            self.ray.get(self.rollouts.run("sleep"))
        return self.ray.get(train_on_ranks(self.learners, samples, total_tokens, total_seqs))

    def sync_weights(self, version: int) -> float:
        start = time.perf_counter()
        if self.colocated:
            self.ray.get(self.rollouts.run("wake_up", ["weights"]))
        if self.cfg.rollout.weight_transport == "collective":
            # rank 0 broadcasts while every engine receives; the payloads only carry the version
            exports = self.learners.run("export_weights", version, "collective")
            self.ray.get(exports + self.rollouts.run("update_weights", WeightPayload(version, "collective", None)))
        else:
            exports = self.learners.run("export_weights", version)
            # rank 0's payload goes from the object store to the rollout actors, not via the driver
            self.ray.get(exports[1:] + self.rollouts.run("update_weights", exports[0]))
        if self.colocated:
            self.ray.get(self.rollouts.run("wake_up", ["kv_cache"]))
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
        if self.shared_pg is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self.shared_pg)


def train_on_ranks(learners: Any, samples: list[TrainSample], total_tokens: int, total_seqs: int) -> list[Any]:
    """`train_step` futures of every learner rank, each on a share of `samples` with about as many
    tokens as the others (`total_*` count the whole batch: the loss is normalized over it)."""
    shares = split_by_tokens([len(s) for s in samples], len(learners.actors))
    return learners.run_each("train_step", [(([samples[i] for i in share], total_tokens, total_seqs), {})
                                            for share in shares])


def state_version(path: str) -> int:
    from rlsys.core.checkpoints import read_trainer_state

    return int(read_trainer_state(path).get("weight_version", 0))
