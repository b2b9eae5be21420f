"""Where the RL workers run: on Ray (one actor per role and rank) or inline in this process.

Both classes offer the driver the same verbs, so `rlsys/driver.py` reads the same for either:
generate, score, train, sync_weights, save / load checkpoints, shutdown.

On Ray, the rollout side: `rollout.num_workers` engines get prompts balanced by pending work
(`rlsys.dispatch`); weights reach them through the object store or a collective broadcast
(`rollout.weight_transport`, `actors.weight_sync`); with `cluster.placement: colocated` engine
i shares learner rank i's bundle and sleeps while the learners train.

Generation is asynchronous: `submit_generate` returns a `concurrent.futures.Future` (one job at
a time, in submission order, on a thread of the cluster), so the driver can train while the next
steps generate (`algorithm.max_staleness`); `generate` is `submit_generate(...).result()`. A
weight sync reaches an engine between two of its requests: a request already running finishes
on the old weights, and each sample records the version it was sampled with.

Supervision (Ray): a rollout engine or the reward worker whose process died is replaced by a
new actor in the same bundle, which gets the newest weights (the last sync's payload, kept in
the object store), and the lost request is sent again (the same prompts and seeds; a batch is
scored again from scratch, its lost results were never returned). At most
`cluster.max_worker_restarts` replacements, counted in `restarts`. A learner rank that died
raises `LearnerDied`: its peers hold a broken process group, so the driver restarts the whole
job from its last checkpoint (`train.max_restarts`). Not covered: replacing an engine under the
`collective` weight transport (its group would have to be formed again: the job fails with a
clear error), and a reward server that died (the HTTP client's retries cover a restart of it).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from actors.distributed import free_port
from actors.learner import Learner, split_by_tokens
from actors.reward_worker import RewardWorker
from actors.rollout import RolloutWorker
from rlsys.ahead import GenerateClock
from rlsys.core.config import RLConfig, cpu_threads
from rlsys.core.types import Sample, TrainSample, WeightPayload


def learner_kwargs(cfg: RLConfig, rank: int, address: tuple[str, int], local_rank: int | None = None) -> dict[str, Any]:
    """`address`: where the learner ranks meet (rank 0's node IP and a free port there)."""
    return dict(
        model_path=cfg.model.path,
        cfg=cfg.learner,
        algo=cfg.algorithm,
        total_steps=cfg.train.steps,
        temperature=cfg.rollout.temperature,
        max_completion_tokens=cfg.rollout.max_new_tokens,
        dtype=cfg.model.dtype,
        seed=cfg.run.seed,
        rank=rank,
        world_size=cfg.learner.num_workers,
        master_addr=address[0],
        master_port=address[1],
        local_rank=local_rank,
    )


def with_cpu_threads(cfg: RLConfig) -> RLConfig:
    """`cfg` with the learner's and the engines' thread counts of `cpu_threads` for this host
    (a copy, logged, when they change)."""
    cores = os.cpu_count() or 1
    learner, rollout = cpu_threads(cfg, cores)
    if (learner, rollout) == (cfg.learner.threads, cfg.rollout.threads):
        return cfg
    logging.getLogger(__name__).info(
        "asynchronous rollouts on CPU: the learner and the engines compute at the same time on %d cores; "
        "threads: learner %s, engines %s (learner.threads / rollout.threads override)",
        cores,
        learner,
        rollout,
    )
    return cfg.model_copy(
        update={
            "learner": cfg.learner.model_copy(update={"threads": learner}),
            "rollout": cfg.rollout.model_copy(update={"threads": rollout}),
        }
    )


class InlineCluster:
    """Every worker as a plain object in this process (one learner rank, one rollout worker)."""

    def __init__(self, cfg: RLConfig):
        if cfg.learner.num_workers != 1 or cfg.rollout.num_workers != 1:
            raise ValueError("cluster.type inline runs one learner and one rollout worker; use cluster.type ray")
        self.learner = Learner(**learner_kwargs(cfg, 0, ("127.0.0.1", free_port())))
        self.learner.asynchronous = cfg.algorithm.max_staleness > 0
        self.rollout = RolloutWorker(cfg.model.path, cfg.rollout, seed=cfg.run.seed, dtype=cfg.rollout_dtype)
        self.rewards = RewardWorker(cfg.rewards)
        self.restarts: dict[str, int] = {}
        self._engine = threading.Lock()  # one request or one weight update at a time
        self._generator = ThreadPoolExecutor(1, thread_name_prefix="generate")
        self.generate_clock = GenerateClock()  # when generation ran: the driver's overlap metric

    def submit_generate(self, prompts: list[Any], seeds: list[int] | None = None) -> Future:
        return self._generator.submit(self._generate, prompts, seeds)

    def _generate(self, prompts: list[Any], seeds: list[int] | None) -> list[Sample]:
        with self._engine, self.generate_clock:
            return self.rollout.generate(prompts, seeds=seeds)

    def generate(self, prompts: list[Any], seeds: list[int] | None = None) -> list[Sample]:
        return self.submit_generate(prompts, seeds).result()

    def score(self, completions: list[str], rows: list[dict]) -> tuple[list, float]:
        return self.rewards.score(completions, rows)

    def train(self, samples: list[TrainSample], total_tokens: int, total_seqs: int) -> list[dict[str, float]]:
        return [self.learner.train_step(samples, total_tokens, total_seqs)]

    def sync_weights(self, version: int) -> float:
        payload = self.learner.export_weights(version)
        assert payload is not None  # one rank: rank 0's payload
        with self._engine:
            return self.rollout.update_weights(payload)

    def save_checkpoint(self, path: str, state: dict) -> None:
        self.learner.save_checkpoint(path, state)

    def load_checkpoint(self, path: str) -> None:
        self.learner.load_checkpoint(path)
        self.sync_weights(state_version(path))

    def shutdown(self) -> None:
        self._generator.shutdown(wait=True, cancel_futures=True)
        self.rollout.shutdown()
        self.learner.close()


class RayCluster:
    """Learner ranks, rollout workers and a reward worker as Ray actors."""

    def __init__(self, cfg: RLConfig):
        import ray

        from actors.group import ActorGroup

        cfg = with_cpu_threads(cfg)
        self.ray, self.cfg = ray, cfg
        c = cfg.cluster
        learner_resources, rollout_resources = self._placement()
        self.learners = ActorGroup.ranks(  # local_rank 0: Ray shows each learner actor only its own GPU(s)
            Learner,
            cfg.learner.num_workers,
            **learner_resources,
            name="learner",
            init=lambda rank, address: ((), learner_kwargs(cfg, rank, address, local_rank=0)),
            threads=cfg.learner.threads,
        )
        self.rollouts = ActorGroup(
            RolloutWorker,
            cfg.rollout.num_workers,
            **rollout_resources,
            init=lambda rank: (
                (cfg.model.path, cfg.rollout),
                dict(seed=cfg.run.seed + rank, dtype=cfg.rollout_dtype, sleep_mode=self.colocated),
            ),
            name="rollout",
            threads=cfg.rollout.threads,
        )
        self.rewards = ActorGroup(
            RewardWorker, 1, num_cpus=c.reward_cpus, init=lambda _: ((cfg.rewards,), {}), name="reward"
        )
        if cfg.rollout.weight_transport == "collective":
            self._join_weight_group()
        if cfg.algorithm.max_staleness > 0:  # rollout_correction `auto` -> tis on every rank
            gather(self.ray, [a.__ray_call__.remote(_set_asynchronous) for a in self.learners.actors], "learner")
        self.restarts = {"rollout": 0, "reward": 0}
        self._weights: Any = None  # the last sync's payload (ObjectRef), for engines that replace a dead one
        self._generator = ThreadPoolExecutor(1, thread_name_prefix="generate")
        self.generate_clock = GenerateClock()  # when generation ran: the driver's overlap metric
        self._lock = threading.RLock()  # a weight sync and a replacement do not interleave
        self._closing = False

    # ------------------------------------------------------------ supervision

    def _alive(self, actor: Any) -> bool:
        try:
            self.ray.get(actor.__ray_call__.remote(_nothing), timeout=60)
            return True
        except self.ray.exceptions.RayActorError:
            return False

    def _replace(self, role: str, rank: int) -> Any:
        """A new actor for `role`'s rank whose process died; an engine gets the newest weights."""
        with self._lock:
            return self._replace_locked(role, rank)

    def _replace_locked(self, role: str, rank: int) -> Any:
        if self._closing:
            raise RuntimeError("the cluster is shutting down")
        if sum(self.restarts.values()) >= self.cfg.cluster.max_worker_restarts:
            raise RuntimeError(
                f"{role} worker {rank} died and cluster.max_worker_restarts "
                f"({self.cfg.cluster.max_worker_restarts}) replacements are used up"
            )
        if role == "rollout" and self.cfg.rollout.weight_transport == "collective":
            raise RuntimeError(
                f"rollout engine {rank} died; a replacement cannot join the collective weight "
                "transport's group: use rollout.weight_transport: tensors to survive engine deaths"
            )
        self.restarts[role] += 1
        group = self.rollouts if role == "rollout" else self.rewards
        actor = group.respawn(rank)
        if role == "rollout" and self._weights is not None:
            self.ray.get(actor.update_weights.remote(self._weights))
        return actor

    # ------------------------------------------------------------ rollout side

    def _placement(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """ActorGroup resources of the learners and the engines for `cluster.placement`."""
        from actors.group import reserve_bundles

        c = self.cfg.cluster
        self.colocated = c.placement == "colocated"
        self.shared_pg = None
        if not self.colocated:
            return (
                dict(num_cpus=c.learner_cpus, num_gpus=c.gpus_per_learner),
                dict(num_cpus=c.rollout_cpus, num_gpus=c.gpus_per_rollout),
            )
        # bundle i: learner rank i and engine i, each with half of the bundle's GPUs (the same devices)
        bundle = {"CPU": c.learner_cpus + c.rollout_cpus, "GPU": c.gpus_per_learner}
        self.shared_pg = reserve_bundles(self.cfg.learner.num_workers, bundle, "learner + rollout (colocated)")
        share = c.gpus_per_learner / 2
        return (
            dict(num_cpus=c.learner_cpus, num_gpus=share, placement=self.shared_pg),
            dict(num_cpus=c.rollout_cpus, num_gpus=share, placement=self.shared_pg),
        )

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
            raise RuntimeError(
                f"the weight group at {host}:{port} did not form in 600 s ({world} members): can "
                "every engine's node reach learner rank 0's node on that port?"
            ) from None

    def submit_generate(self, prompts: list[Any], seeds: list[int] | None = None) -> Future:
        return self._generator.submit(self._generate, prompts, seeds)

    def _generate(self, prompts: list[Any], seeds: list[int] | None) -> list[Sample]:
        from rlsys.dispatch import generate_balanced

        r = self.cfg.rollout
        with self.generate_clock:
            return generate_balanced(
                self.rollouts.actors,
                prompts,
                r.samples_per_prompt,
                r.prompts_per_request,
                seeds=seeds,
                replace=lambda rank: self._replace("rollout", rank),
            )

    def generate(self, prompts: list[Any], seeds: list[int] | None = None) -> list[Sample]:
        return self.submit_generate(prompts, seeds).result()

    def score(self, completions: list[str], rows: list[dict]) -> tuple[list, float]:
        while True:
            try:
                return self.ray.get(self.rewards.actors[0].score.remote(completions, rows))
            except self.ray.exceptions.RayActorError:
                self._replace("reward", 0)  # its results were lost with it: the batch is scored again

    def train(self, samples: list[TrainSample], total_tokens: int, total_seqs: int) -> list[dict[str, float]]:
        if self.colocated:  # the learners get the engines' device memory until the weight sync
            self.ray.get(self.rollouts.run("sleep"))
        return gather(self.ray, train_on_ranks(self.learners, samples, total_tokens, total_seqs), "learner")

    def sync_weights(self, version: int) -> float:
        start = time.perf_counter()
        if self.colocated:
            self.ray.get(self.rollouts.run("wake_up", ["weights"]))
        if self.cfg.rollout.weight_transport == "collective":
            # rank 0 broadcasts while every engine receives; the payloads only carry the version
            exports = self.learners.run("export_weights", version, "collective")
            self.ray.get(self.rollouts.run("update_weights", WeightPayload(version, "collective", None)))
            gather(self.ray, exports, "learner")
        else:
            with self._lock:
                self._sync_object_store(version)
        if self.colocated:
            self.ray.get(self.rollouts.run("wake_up", ["kv_cache"]))
        return time.perf_counter() - start

    def _sync_object_store(self, version: int) -> None:
        exports = self.learners.run("export_weights", version)
        gather(self.ray, exports[1:], "learner")
        self._weights = exports[0]  # kept for engines that replace a dead one
        # rank 0's payload goes from the object store to the rollout actors, not via the driver
        engines = list(self.rollouts.actors)
        for rank, ref in enumerate(self.rollouts.run("update_weights", exports[0])):
            try:
                self.ray.get(ref)
            except self.ray.exceptions.RayActorError as err:
                if self._alive(engines[rank]):  # then the payload never came
                    raise LearnerDied(f"learner rank 0 died exporting weights version {version}") from err
                if self.rollouts.actors[rank] is engines[rank]:
                    self._replace("rollout", rank)  # the new engine gets these weights

    def save_checkpoint(self, path: str, state: dict) -> None:
        gather(self.ray, self.learners.run("save_checkpoint", path, state), "learner")

    def load_checkpoint(self, path: str) -> None:
        gather(self.ray, self.learners.run("load_checkpoint", path), "learner")
        self.sync_weights(state_version(path))

    def shutdown(self) -> None:
        """Close the engines and learners (a dead or stuck one is skipped after 60 s), then kill
        every actor; a generation still running ends with an error that nobody waits for."""
        self._closing = True
        for group, verb in ((self.rollouts, "shutdown"), (self.learners, "close")):
            try:
                self.ray.get(group.run(verb), timeout=60)
            except (self.ray.exceptions.RayError, self.ray.exceptions.GetTimeoutError):
                pass
        for group in (self.rollouts, self.learners, self.rewards):
            group.kill()
        self._generator.shutdown(wait=True, cancel_futures=True)
        if self.shared_pg is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self.shared_pg)


class LearnerDied(RuntimeError):
    """A learner rank's process died: the step cannot finish (the driver may restart the job)."""


def gather(ray: Any, refs: list[Any], role: str) -> list[Any]:
    """`ray.get` of every rank's result, failing as soon as one rank's actor died (its peers may
    wait for it in a collective forever): `LearnerDied` for learners."""
    pending, done = list(refs), {}
    while pending:
        [ref], pending = ray.wait(pending, num_returns=1)
        try:
            done[ref] = ray.get(ref)
        except ray.exceptions.RayActorError as err:
            if role == "learner":
                raise LearnerDied(f"a learner rank died ({type(err).__name__}): {str(err).splitlines()[0]}") from err
            raise
    return [done[r] for r in refs]


def _nothing(_: Any) -> None:
    return None


def _set_asynchronous(learner: Any) -> None:
    learner.asynchronous = True


def train_on_ranks(learners: Any, samples: list[TrainSample], total_tokens: int, total_seqs: int) -> list[Any]:
    """`train_step` futures of every learner rank, each on a share of `samples` with about as many
    tokens as the others (`total_*` count the whole batch: the loss is normalized over it)."""
    shares = split_by_tokens([len(s) for s in samples], len(learners.actors))
    return learners.run_each(
        "train_step", [(([samples[i] for i in share], total_tokens, total_seqs), {}) for share in shares]
    )


def state_version(path: str) -> int:
    from rlsys.core.checkpoints import read_trainer_state

    return int(read_trainer_state(path).get("weight_version", 0))
