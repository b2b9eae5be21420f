"""A cpt / sft / dpo / wpo stage on several learner ranks: Ray actors of the stage's learner.

`StageRanks` offers `run_stage` the verbs of one `SupervisedLearner` (prepare, train_step,
evaluate, save_checkpoint, load_checkpoint, export, close) and runs each on `learner.num_workers` Ray actors of that class, one
per bundle of a placement group, meeting at rank 0's node (`actors.group.ActorGroup.ranks`):
- train_step / evaluate: the step's examples are split by tokens (`split_by_tokens`); each rank
  normalizes by the whole step's counts (summed over ranks), so its metrics are its share and
  they add up (`merge_rank_metrics`); `lr` and `grad_norm` are the same on every rank;
- prepare (the reference pass of dpo / wpo): the pairs are split the same way and come back in
  their order; cpt / sft have nothing to prepare;
- export: every rank takes part (ZeRO-3 gathers), rank 0 writes.

Ray: the stage joins the running Ray instance, or `cluster.address`, or starts a local one.
Resources per rank: `cluster.learner_cpus` and `cluster.gpus_per_learner`.

Not covered: the examples travel from this process to the ranks every step (fine for the
token-id lists of a stage's step; a data loader per rank would scale further).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlsys.core.pipeline_config import SupervisedStage

SAME_ON_EVERY_RANK = ("lr", "grad_norm")


def merge_rank_metrics(per_rank: list[dict[str, float]]) -> dict[str, float]:
    """Every rank's metrics are its share of the step's: they add up; lr and grad_norm do not."""
    out: dict[str, float] = {}
    for metrics in per_rank:
        for key, value in metrics.items():
            if key not in SAME_ON_EVERY_RANK:
                out[key] = out.get(key, 0.0) + value
    out.update({k: per_rank[0][k] for k in SAME_ON_EVERY_RANK if k in per_rank[0]})
    return out


def start_ray(stage: SupervisedStage) -> None:
    import math
    import os

    import ray

    from rlsys.core.logs import ray_log_to_driver

    if ray.is_initialized():
        return
    c = stage.cluster
    if c.address:
        ray.init(address=c.address, log_to_driver=ray_log_to_driver())
    else:
        wanted = math.ceil(c.learner_cpus * stage.learner.num_workers)
        ray.init(
            num_cpus=c.num_cpus or max(os.cpu_count() or 1, wanted),
            include_dashboard=False,
            log_to_driver=ray_log_to_driver(),
        )


class StageRanks:
    """`learner.num_workers` ranks of `learner_cls` (SupervisedLearner or PreferenceLearner)."""

    def __init__(
        self,
        learner_cls: type,
        model_path: str,
        stage: SupervisedStage,
        *,
        total_steps: int,
        dtype: str = "float32",
        seed: int = 0,
    ):
        import ray

        from actors.group import ActorGroup

        start_ray(stage)
        self.ray, self.stage = ray, stage
        n, c = stage.learner.num_workers, stage.cluster
        self.group = ActorGroup.ranks(  # local_rank 0: Ray shows each rank only its own GPU(s)
            learner_cls,
            n,
            num_cpus=c.learner_cpus,
            num_gpus=c.gpus_per_learner,
            name="stage-learner",
            init=lambda rank, address: (
                (model_path, stage),
                dict(
                    total_steps=total_steps,
                    dtype=dtype,
                    seed=seed,
                    rank=rank,
                    world_size=n,
                    master_addr=address[0],
                    master_port=address[1],
                    local_rank=0,
                ),
            ),
        )

    def _split(self, examples: list[Any]) -> list[list[int]]:
        from actors.learner import split_by_tokens

        return split_by_tokens([len(getattr(e, "example", e)) for e in examples], len(self.group.actors))

    def _each(self, method: str, examples: list[Any]) -> tuple[list[list[int]], list[Any]]:
        shares = self._split(examples)
        futures = self.group.run_each(method, [(([examples[i] for i in share],), {}) for share in shares])
        return shares, self.ray.get(futures)

    def prepare(self, examples: list[Any]) -> list[Any]:
        if self.stage.type not in ("dpo", "wpo"):
            return examples  # nothing to compute before training
        shares, results = self._each("prepare", examples)
        out: list[Any] = [None] * len(examples)
        for share, prepared in zip(shares, results):
            for i, item in zip(share, prepared):
                out[i] = item
        return out

    def train_step(self, examples: list[Any]) -> dict[str, float]:
        return merge_rank_metrics(self._each("train_step", examples)[1])

    def evaluate(self, examples: list[Any]) -> dict[str, float]:
        return merge_rank_metrics(self._each("evaluate", examples)[1])

    def save_checkpoint(self, path: Path, trainer_state: dict[str, Any]) -> None:
        """Every rank writes its part (its DeepSpeed shard and RNG streams; rank 0 the weights)."""
        self.ray.get(self.group.run("save_checkpoint", path, trainer_state))

    def load_checkpoint(self, path: Path) -> None:
        self.ray.get(self.group.run("load_checkpoint", path))

    def export(self, out: Path) -> Path:
        return self.ray.get(self.group.run("export", out))[0]

    def close(self) -> None:
        try:
            self.ray.get(self.group.run("close"))
        finally:
            self.group.kill()
