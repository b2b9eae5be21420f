"""A dead actor does not end the run (issue 9 §4): on Ray, each kind of actor is killed with
SIGKILL in the middle of a run and the run completes with every step's samples generated,
scored and trained once.

- The reward worker kills itself (`os.kill(os.getpid(), SIGKILL)`) inside a reward call of a
  step: the cluster replaces it and scores the step's batch again.
- The rollout engine's pid is killed from the test while the run goes on (with async on, the
  engine is generating the next step then): a new engine gets the current weights and the lost
  request is sent again with the same seeds.
- The learner's pid is killed: the step ends with `LearnerDied`, and with
  `train.max_restarts: 1` the job starts its workers again and continues from its last
  checkpoint; each step is logged once.

The reward (`always_half`) gives every sample 0.5 with `zero_variance_groups: keep`, so a step
trains on all of its 2 x 4 samples: the count shows that nothing was lost or doubled.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from rlsys.core.checkpoints import checkpoint_dir
from rlsys.core.config import RLConfig

pytestmark = pytest.mark.slow
STEPS, PROMPTS, N = 5, 2, 4


def always_half(completions, **_):
    from rewards.base import RewardResult

    return [RewardResult.ok(0.5) for _ in completions]


def dies_when_armed(completions, marker, **_):
    """Scores 0.5; the first call after the test created `<marker>.armed` kills its own process."""
    from rewards.base import RewardResult

    path = Path(marker[0])
    if Path(f"{path}.armed").exists() and not path.exists():
        path.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return [RewardResult.ok(0.5) for _ in completions]


def _declare_marker_column():
    from rewards.registry import RewardSpec

    dies_when_armed.reward_spec = RewardSpec("tests.test_actor_restarts:dies_when_armed", dies_when_armed, ("marker",))


_declare_marker_column()


@pytest.fixture
def local_ray():
    import ray

    ray.init(num_cpus=3, include_dashboard=False, _temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"))
    yield ray
    ray.shutdown()


def config(tmp_path, model, reward="tests.test_actor_restarts:always_half", **sections):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(
            json.dumps({"prompt": f"Count to {i}.", "reward": reward, "marker": str(tmp_path / "killed")}) + "\n"
            for i in range(8)
        )
    )
    cfg = {
        "run": {"output_dir": str(tmp_path / "run"), "seed": 3},
        "model": {"path": model},
        "cluster": {"type": "ray", "learner_cpus": 0.5, "rollout_cpus": 0.5, "reward_cpus": 0.5},
        "data": {"path": str(rows)},
        "rollout": {"samples_per_prompt": N, "max_new_tokens": 8, "max_model_len": 96},
        "learner": {"lr": 1e-3, "micro_batch_tokens": 256},
        "algorithm": {"zero_variance_groups": "keep"},
        "train": {
            "steps": STEPS,
            "prompts_per_step": PROMPTS,
            "checkpoint_every": 1,
            "keep_checkpoints": 2,
            "log_samples": 1000,
        },
    }
    for section, values in sections.items():
        cfg[section] = {**cfg.get(section, {}), **values}
    return RLConfig.model_validate(cfg)


def logged(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def when_step_logged(run: Path, step: int, action) -> threading.Thread:
    """Run `action()` on a thread as soon as `step` is in the run's metrics."""

    def watch():
        while not any(r["step"] >= step for r in logged(run)):
            time.sleep(0.05)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def kill_actor(ray, name: str) -> int:
    actor = ray.get_actor(name)
    pid = ray.get(actor.__ray_call__.remote(lambda _: os.getpid()))
    os.kill(pid, signal.SIGKILL)
    return pid


def assert_complete(run: Path) -> list[dict]:
    rows = logged(run)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))  # each step once
    for r in rows:
        assert r["reward/status/ok"] == PROMPTS * N  # every sample scored, once
        assert r["batch/samples_trained"] == PROMPTS * N
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert [s["position"] for s in samples[::N]] == list(range(STEPS * PROMPTS))  # no prompt lost or repeated
    return rows


@pytest.mark.parametrize("max_staleness", [0, 1], ids=["sync", "async"])
def test_a_killed_reward_worker_and_rollout_engine_are_replaced(tiny_llama, tmp_path, local_ray, max_staleness):
    from rlsys.driver import train

    cfg = config(
        tmp_path,
        tiny_llama,
        reward="tests.test_actor_restarts:dies_when_armed",
        algorithm={"zero_variance_groups": "keep", "max_staleness": max_staleness},
    )
    run = tmp_path / "run"
    killed = {}
    when_step_logged(run, 1, lambda: (tmp_path / "killed.armed").touch())  # the reward of step 2 dies
    watcher = when_step_logged(run, 3, lambda: killed.setdefault("rollout", kill_actor(local_ray, "rollout-0")))
    train(cfg)
    watcher.join(timeout=5)
    rows = assert_complete(run)
    assert (tmp_path / "killed").exists() and "rollout" in killed
    assert rows[-1]["restarts/reward"] == 1 and rows[-1]["restarts/rollout"] == 1
    assert rows[0]["restarts/reward"] == 0
    assert all(r["async/staleness_max"] <= max_staleness for r in rows)


def test_a_killed_learner_restarts_the_job_from_its_last_checkpoint(tiny_llama, tmp_path, local_ray):
    from rlsys.driver import train

    cfg = config(
        tmp_path, tiny_llama, train={"max_restarts": 1}, algorithm={"zero_variance_groups": "keep", "max_staleness": 1}
    )
    run = tmp_path / "run"
    killed = {}
    when_step_logged(run, 2, lambda: killed.setdefault("learner", kill_actor(local_ray, "learner-0")))
    final = train(cfg)
    rows = assert_complete(run)
    assert killed and rows[-1]["restarts/job"] == 1
    assert final == checkpoint_dir(run, STEPS)


def test_without_restarts_a_killed_learner_is_a_clear_error(tiny_llama, tmp_path, local_ray):
    from rlsys.driver import train

    cfg = config(tmp_path, tiny_llama)
    when_step_logged(tmp_path / "run", 1, lambda: kill_actor(local_ray, "learner-0"))
    with pytest.raises(RuntimeError, match="learner rank died.*train.max_restarts: 0"):
        train(cfg)
