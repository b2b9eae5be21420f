"""A thin, explicit Ray layer: N ranks of one plain class in a placement group.

`ActorGroup.run("method", ...)` calls the method on every rank with `.remote(...)` and
returns the futures; nothing is generated, so "go to definition" lands on the plain class.
Each group reserves its own placement group (disaggregated placement), or two groups share
one made by `reserve_bundles` (colocated: rank i of each group in bundle i).

Ranks that form a torch.distributed group (learners: `ActorGroup.ranks`) meet at rank 0: once
the bundles are placed, `rank0_address` asks for the IP of the node that holds bundle 0 and a
free port there (a zero-CPU task placed in that bundle picks them), then the ranks start with
that address. Ray gives each actor its own `CUDA_VISIBLE_DEVICES`, so a rank's GPU is the first
one it sees.

A rank whose process died (OOM kill, segfault, lost node) is replaced by `respawn(rank)`: the
same class, constructor arguments and bundle, a fresh process. What the new actor must be told
(current weights, a lost request) is the caller's business (rlsys/cluster.py supervises).
Ranks of a torch.distributed group are not respawned one by one: their peers hold a broken
process group (the learner's restart is the whole job's, from its last checkpoint).

Logs: when the run has a log folder (`rlsys.core.logs.capture`), actor `<name>-<rank>` writes
its output to `<name>-<rank>.log` there; its class is wrapped (`with_process_logs`) so that the
redirection happens before the constructor loads any library.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from rlsys.core import logs


def actor_env(log_name: str = "", threads: int | None = None) -> dict[str, str]:
    """Environment for every actor: Ray would set OMP_NUM_THREADS=1 for fractional CPU
    requests, which halves torch and vLLM on a small machine where the phases alternate; every
    core unless `threads` says how many. With `log_name` and a run log folder: where the actor
    writes its output."""
    env = {
        "OMP_NUM_THREADS": str(threads or os.cpu_count() or 1),
        "TOKENIZERS_PARALLELISM": "false",
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    }
    for key in (
        "VLLM_CPU_KVCACHE_SPACE",
        "VLLM_CACHE_ROOT",
        "HF_HUB_OFFLINE",
        "HF_DATASETS_OFFLINE",
        "TORCH_EXTENSIONS_DIR",
    ):
        if key in os.environ:
            env[key] = os.environ[key]
    if log_name:
        env.update(logs.actor_log_env(log_name))
    return env


def with_process_logs(cls: type) -> type:
    """`cls` with a constructor that first sends the actor process's output to its log file
    (`rlsys.core.logs.actor_setup`; nothing happens without a log file in the environment)."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        logs.actor_setup()
        cls.__init__(self, *args, **kwargs)  # type: ignore[misc]

    return type(cls.__name__, (cls,), {"__init__": __init__, "__doc__": cls.__doc__})


def reserve_bundles(n: int, bundle: dict[str, float], what: str) -> PlacementGroup:
    """A PACK placement group of `n` copies of `bundle`; waits until Ray has placed it."""
    pg = placement_group([bundle] * n, strategy="PACK")
    try:
        ray.get(pg.ready(), timeout=120)
    except ray.exceptions.GetTimeoutError:
        remove_placement_group(pg)
        raise RuntimeError(
            f"Ray could not place {n} x {bundle} for {what} in 120 s; the cluster has "
            f"{ray.available_resources()} free. Lower cluster.*_cpus / *_gpus or add nodes."
        ) from None
    return pg


def _node_address() -> tuple[str, int]:
    from actors.distributed import free_port

    return ray.util.get_node_ip_address(), free_port()


def rank0_address(pg: PlacementGroup) -> tuple[str, int]:
    """(IP, free port) of the node that holds bundle 0 of `pg`, where rank 0 will run."""
    task = ray.remote(num_cpus=0)(_node_address).options(
        scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0)
    )
    return ray.get(task.remote(), timeout=120)


class ActorGroup:
    """`n` Ray actors of `cls`, one per bundle of a PACK placement group (its own, or `placement`)."""

    def __init__(
        self,
        cls: type,
        n: int,
        *,
        num_cpus: float,
        num_gpus: float = 0.0,
        init: Callable[[int], tuple[tuple, dict]] = lambda rank: ((), {}),
        name: str = "",
        placement: PlacementGroup | None = None,
        threads: int | None = None,
    ):
        """`threads`: OMP threads of each actor's process (None: every core of its node)."""
        self.owns_pg = placement is None
        if placement is None:
            placement = reserve_bundles(n, {"CPU": num_cpus, "GPU": num_gpus}, name or cls.__name__)
        self.pg = placement
        self._remote_cls: Any = ray.remote(with_process_logs(cls))
        self._init, self._name, self._cls_name = init, name, cls.__name__.lower()
        self._threads = threads
        self._resources = {"num_cpus": num_cpus, "num_gpus": num_gpus}
        self.restarts = [0] * n
        self.actors = [self._start(rank) for rank in range(n)]

    def _start(self, rank: int) -> Any:
        args, kwargs = self._init(rank)
        suffix = f"-r{self.restarts[rank]}" if self.restarts[rank] else ""
        name = f"{self._name}-{rank}{suffix}" if self._name else None
        log_name = f"{self._name or self._cls_name}-{rank}{suffix}"
        for attempt in range(2):
            try:
                return self._remote_cls.options(
                    **self._resources,
                    name=name,
                    runtime_env={"env_vars": actor_env(log_name, self._threads)},
                    scheduling_strategy=PlacementGroupSchedulingStrategy(self.pg, placement_group_bundle_index=rank),
                ).remote(*args, **kwargs)
            except ValueError:  # the name of a killed actor (a job restarted in this process) may linger
                if attempt or name is None:
                    raise
                name = f"{name}-{os.urandom(3).hex()}"
        raise AssertionError("unreachable")

    def respawn(self, rank: int) -> Any:
        """Replace rank `rank` (its process died) by a new actor in the same bundle; returns it."""
        with contextlib.suppress(Exception):  # already gone is the expected case
            ray.kill(self.actors[rank], no_restart=True)
        self.restarts[rank] += 1
        self.actors[rank] = self._start(rank)
        return self.actors[rank]

    @classmethod
    def ranks(
        cls,
        actor_cls: type,
        n: int,
        *,
        num_cpus: float,
        num_gpus: float = 0.0,
        init: Callable[[int, tuple[str, int]], tuple[tuple, dict]],
        name: str = "",
        placement: PlacementGroup | None = None,
        threads: int | None = None,
    ) -> ActorGroup:
        """`n` ranks that form one process group: `init(rank, (master_addr, master_port))` gives
        each rank's constructor arguments; the address is rank 0's node and a free port there."""
        pg = placement or reserve_bundles(n, {"CPU": num_cpus, "GPU": num_gpus}, name or actor_cls.__name__)
        address = rank0_address(pg)
        group = cls(
            actor_cls,
            n,
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            name=name,
            placement=pg,
            init=lambda rank: init(rank, address),
            threads=threads,
        )
        group.owns_pg = placement is None
        return group

    def run(self, method: str, *args: Any, **kwargs: Any) -> list[ray.ObjectRef]:
        """Call `method` with the same arguments on every rank."""
        return [getattr(actor, method).remote(*args, **kwargs) for actor in self.actors]

    def run_each(self, method: str, per_rank: list[tuple[tuple, dict]]) -> list[ray.ObjectRef]:
        """Call `method` with each rank's own arguments."""
        return [getattr(a, method).remote(*args, **kw) for a, (args, kw) in zip(self.actors, per_rank, strict=True)]

    def kill(self) -> None:
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        if self.owns_pg:
            remove_placement_group(self.pg)
