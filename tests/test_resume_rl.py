"""An RL run killed with SIGKILL and resumed equals the run that was never interrupted.

Each case runs `rlsys train` as a real subprocess twice: straight through N steps, and killed
(`kill -9` of its whole process group, Ray's processes included) right after step 3 was logged,
then started again with the same command. The resumed run must show the same prompts in the
same order, the same sampled tokens (vLLM, seeded per prompt) and rewards, and the same losses
within float tolerance, each step logged once. The KL penalty is on, so a resume that took the
reference model from the checkpoint instead of the initial model would change the loss.

A second kind of kill lands inside the checkpoint writer (tests/resume_helpers.py `crash_in`):
after every file of the step-4 checkpoint is in its staging folder, before the manifest and
the rename. That checkpoint must never be used, and the run resumes from step 2.

The tiny Llama of conftest.py; 8 prompts, 2 per step, 4 samples of at most 10 tokens.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.resume_helpers import cli_env, finish, kill_after_step, logged_steps, read_jsonl, start

STEPS = 6
CASES = {
    "inline-torch": {"cluster": {"type": "inline"}},
    "ray-deepspeed-zero2-2ranks": {
        "cluster": {"type": "ray", "learner_cpus": 0.5, "rollout_cpus": 0.5},
        "learner": {"strategy": "deepspeed", "zero_stage": 2, "num_workers": 2},
    },
    "inline-deepspeed-zero3": {"cluster": {"type": "inline"}, "learner": {"strategy": "deepspeed", "zero_stage": 3}},
    "ray-torch-2ranks": {
        "cluster": {"type": "ray", "learner_cpus": 0.5, "rollout_cpus": 0.5},
        "learner": {"strategy": "torch", "num_workers": 2},
    },
}


def write_config(folder: Path, model: str, case: str) -> Path:
    rows = folder / "rows.jsonl"
    rows.write_text("".join(json.dumps({"prompt": f"Tell me about the number {i}."}) + "\n" for i in range(8)))
    cfg = {
        "run": {"output_dir": str(folder / "run"), "seed": 7},
        "model": {"path": model},
        "data": {"path": str(rows)},
        "rollout": {"samples_per_prompt": 4, "max_new_tokens": 10, "max_model_len": 96, "temperature": 1.0},
        "learner": {"lr": 1e-3, "micro_batch_tokens": 256, "lr_schedule": "linear"},
        "algorithm": {"kl_coef": 0.5, "zero_variance_groups": "keep"},
        "rewards": {"default": "length_penalty", "settings": {"length_penalty": {"max_chars": 15}}},
        "train": {
            "steps": STEPS,
            "prompts_per_step": 2,
            "checkpoint_every": 2,
            "keep_checkpoints": 1,
            "log_samples": 1000,
        },
    }
    for section, values in CASES[case].items():
        cfg[section] = {**cfg.get(section, {}), **values}
    path = folder / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def envs():
    """Environment of the straight and the killed run: each its own Ray temp dir, short because
    Ray's socket paths have a length limit."""
    dirs = {name: tempfile.mkdtemp(prefix="rr", dir="/tmp") for name in ("straight", "killed")}
    yield {name: cli_env(RAY_TMPDIR=d, RAY_USAGE_STATS_ENABLED="0") for name, d in dirs.items()}
    for d in dirs.values():
        shutil.rmtree(d, ignore_errors=True)


def assert_same_run(straight: Path, resumed: Path) -> None:
    a, b = read_jsonl(straight / "metrics.jsonl"), read_jsonl(resumed / "metrics.jsonl")
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, STEPS + 1))
    sa, sb = read_jsonl(straight / "samples.jsonl"), read_jsonl(resumed / "samples.jsonl")
    keys = ("step", "position", "prompt", "completion_ids", "reward", "status", "weight_version")
    assert [{k: r[k] for k in keys} for r in sa] == [{k: r[k] for k in keys} for r in sb]
    assert len(sa) == STEPS * 2 * 4
    for x, y in zip(a, b):
        assert x["weight_version"] == y["weight_version"] and x["reward/mean"] == y["reward/mean"]
        for key in ("loss", "kl", "entropy", "grad_norm", "lr"):
            assert y[key] == pytest.approx(x[key], rel=1e-4, abs=1e-6), (x["step"], key)
    assert any(r["kl"] > 0 for r in a[2:])  # the reference model matters after step 1


def flat(console: str) -> str:
    """Join console lines (cli_env sets COLUMNS wide, but a wrapped path must not fail a test)."""
    return console.replace("\n", "")


def straight_and_killed(tmp_path: Path, model: str, case: str, envs: dict, crash=None):
    """Start the straight run and the one to be killed side by side; (config, log, process) of each."""
    runs = {}
    for name in ("straight", "killed"):
        (tmp_path / name).mkdir()
        cfg = write_config(tmp_path / name, model, case)
        log = tmp_path / name / "out.log"
        runs[name] = (cfg, log, start(["train", str(cfg)], log, envs[name], crash=crash if name == "killed" else None))
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_kill9_and_resume_equals_the_straight_run(case, tiny_llama, tmp_path, envs):
    runs = straight_and_killed(tmp_path, tiny_llama, case, envs)
    cfg, log, proc = runs["killed"]
    run_dir = tmp_path / "killed" / "run"
    last = kill_after_step(proc, run_dir, 3, log, timeout=900)
    assert last < STEPS
    finish(runs["straight"][2], runs["straight"][1], timeout=900)
    out = flat(finish(start(["train", str(cfg)], log, envs["killed"]), log, timeout=900))
    assert re.search(r"resumed from\s*\S+step_00000([24])\s*at step \1", out), out[-3000:]
    assert_same_run(tmp_path / "straight" / "run", run_dir)
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == [f"step_{STEPS:06d}"]
    # every rank's files went into the checkpoint before it was published
    files = json.loads((run_dir / "checkpoints" / f"step_{STEPS:06d}" / "checkpoint.json").read_text())["files"]
    ranks = CASES[case].get("learner", {}).get("num_workers", 1)
    assert {f"learner_rank{r}.pt" for r in range(ranks)} <= set(files)
    if CASES[case].get("learner", {}).get("strategy") == "deepspeed":
        assert sum("optim_states" in f for f in files) == ranks, sorted(files)


@pytest.mark.slow
def test_a_kill_inside_the_checkpoint_writer_leaves_nothing_that_is_resumed(tiny_llama, tmp_path, envs):
    runs = straight_and_killed(tmp_path, tiny_llama, "inline-torch", envs, crash=("publish", 4))
    cfg, log, proc = runs["killed"]
    run_dir = tmp_path / "killed" / "run"
    assert proc.wait(timeout=900) == -9, log.read_text()[-3000:]
    staged = run_dir / "checkpoints" / ".staging-step_000004"
    assert (staged / "hf" / "model.safetensors").is_file() and not (staged / "checkpoint.json").exists()
    assert logged_steps(run_dir) == [1, 2, 3, 4]
    # and a folder that has the name of a checkpoint but not its manifest (e.g. copied by hand)
    fake = run_dir / "checkpoints" / "step_000003"
    shutil.copytree(run_dir / "checkpoints" / "step_000002", fake)
    (fake / "checkpoint.json").unlink()
    finish(runs["straight"][2], runs["straight"][1], timeout=900)
    out = flat(finish(start(["train", str(cfg)], log, envs["killed"]), log, timeout=900))
    assert re.search(r"removed the unfinished checkpoint\s*\S+\.staging-step_000004", out), out[-3000:]
    assert re.search(r"not resuming from\s*\S+step_000003:\s*no\s*checkpoint\.json", out), out[-3000:]
    assert re.search(r"resumed from\s*\S+step_000002\s*at step 2", out), out[-3000:]
    assert_same_run(tmp_path / "straight" / "run", run_dir)
    assert not staged.exists()
