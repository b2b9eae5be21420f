"""A cpt / sft / wpo stage interrupted mid-way continues from its newest in-stage checkpoint and
ends where the uninterrupted stage ends: same batches, losses within float tolerance, same model.

- In this process: `run_stage` with `checkpoint_every: 2`, a crash injected after step 5
  (between the step-4 checkpoint and the end), then `run_stage` again.
- `rlsys pipeline` cpt -> sft (DeepSpeed ZeRO-2) -> wpo as a real subprocess, killed with
  SIGKILL (its whole process group) once in each stage and started again each time.

WPO uses "precomputed" reference log-probabilities: a resume that recomputed them from the
resumed policy instead of the stage's input model would give other losses after the resume.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.resume_helpers import cli_env, finish, kill_after_step, read_jsonl, start
from tests.test_stage_modes import parse_stage, stage_config, write_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("resume-data"))


def resumable(mode: str, data: dict, steps: int, **learner) -> dict:
    return {**stage_config(mode, data, **learner), "steps": steps, "checkpoint_every": 2, "keep_checkpoints": 2}


class Crash(Exception):
    pass


def assert_same_stage(straight, resumed, steps: int) -> None:
    assert [r["step"] for r in straight] == [r["step"] for r in resumed] == list(range(1, steps + 1))
    for a, b in zip(straight, resumed):
        for key in ("loss", "grad_norm", "lr", "tokens"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-7), (a["step"], key)
        if "rewards/margin" in a:
            assert b["rewards/margin"] == pytest.approx(a["rewards/margin"], rel=1e-5, abs=1e-7)
    assert resumed[-1]["val/loss"] == pytest.approx(straight[-1]["val/loss"], rel=1e-5)


def assert_same_weights(a, b) -> None:
    from safetensors.torch import load_file

    wa, wb = load_file(f"{a}/model.safetensors"), load_file(f"{b}/model.safetensors")
    assert wa.keys() == wb.keys()
    for name in wa:
        assert (wa[name] - wb[name]).abs().max() <= 1e-6, name


@pytest.mark.parametrize("mode", ["cpt", "sft", "wpo"])
def test_a_stage_crashed_after_a_checkpoint_resumes_like_the_straight_run(
    mode, data, tiny_llama, tmp_path, monkeypatch
):
    from pretrain_sft.stage import run_stage
    from rlsys.core.tracking import RunLog

    stage = parse_stage(resumable(mode, data, steps=6))
    straight = run_stage(stage, tiny_llama, tmp_path / "straight", seed=3)
    original = RunLog.log

    def crash_at_5(self, step, metrics):
        original(self, step, metrics)
        if step == 5:
            raise Crash

    monkeypatch.setattr(RunLog, "log", crash_at_5)
    with pytest.raises(Crash):
        run_stage(stage, tiny_llama, tmp_path / "resumed", seed=3)
    assert sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir()) == ["step_000002", "step_000004"]
    monkeypatch.setattr(RunLog, "log", original)
    resumed = run_stage(stage, tiny_llama, tmp_path / "resumed", seed=3)
    assert_same_stage(
        read_jsonl(tmp_path / "straight" / "metrics.jsonl"), read_jsonl(tmp_path / "resumed" / "metrics.jsonl"), 6
    )
    assert resumed["metrics"]["loss"] == pytest.approx(straight["metrics"]["loss"], rel=1e-5)
    assert_same_weights(straight["model_dir"], resumed["model_dir"])
    assert not list((tmp_path / "resumed" / "checkpoints").iterdir())  # the exported model supersedes them


def test_a_checkpoint_of_another_setup_is_refused(data, tiny_llama, tmp_path, monkeypatch):
    from pretrain_sft.stage import run_stage
    from rlsys.core.tracking import RunLog

    stage = parse_stage(resumable("sft", data, steps=4))
    original = RunLog.log

    def crash_at_3(self, step, metrics):
        original(self, step, metrics)
        if step == 3:
            raise Crash

    monkeypatch.setattr(RunLog, "log", crash_at_3)
    with pytest.raises(Crash):
        run_stage(stage, tiny_llama, tmp_path / "stage", seed=3)
    monkeypatch.setattr(RunLog, "log", original)
    changed = parse_stage({**resumable("sft", data, steps=4), "examples_per_step": 4})
    with pytest.raises(ValueError, match=r"step_000002 was written with a different seed, config.examples_per_step"):
        run_stage(changed, tiny_llama, tmp_path / "stage", seed=4)


@pytest.mark.slow
def test_pipeline_killed_in_each_stage_resumes_to_the_straight_result(data, tiny_llama, tmp_path):
    steps = 10
    stages = [
        resumable("cpt", data, steps),
        resumable("sft", data, steps, strategy="deepspeed", zero_stage=2),
        resumable("wpo", data, steps),
    ]
    names = ["1_cpt", "2_sft", "3_wpo"]
    env = cli_env()
    configs = {}
    for run in ("straight", "killed"):
        configs[run] = tmp_path / f"{run}.yaml"
        configs[run].write_text(
            yaml.safe_dump(
                {
                    "run": {"name": run, "output_dir": str(tmp_path / run), "seed": 5},
                    "model": {"path": tiny_llama},
                    "stages": stages,
                }
            )
        )
    log = tmp_path / "killed.log"
    straight = start(["pipeline", str(configs["straight"])], tmp_path / "straight.log", env)
    for name in names:
        proc = start(["pipeline", str(configs["killed"])], log, env)
        kill_after_step(proc, tmp_path / "killed" / "stages" / name, 3, log, timeout=900)
        assert not (tmp_path / "killed" / "stages" / name / "DONE").exists()
    out = finish(start(["pipeline", str(configs["killed"])], log, env), log, timeout=900)
    finish(straight, tmp_path / "straight.log", timeout=900)
    # every stage was resumed from one of its own checkpoints once (the first is resumed in the
    # run that is then killed in the second, and so on)
    resumes = re.findall(r"resumed from\s*\S+/stages/(\d_\w+)/checkpoints/step_\d+\s*at step (\d+)", out)
    assert sorted({stage for stage, _ in resumes}) == names and all(int(k) >= 2 for _, k in resumes), resumes
    for name in names:
        a = read_jsonl(tmp_path / "straight" / "stages" / name / "metrics.jsonl")
        b = read_jsonl(tmp_path / "killed" / "stages" / name / "metrics.jsonl")
        assert_same_stage(a, b, steps)
        assert_same_weights(
            tmp_path / "straight" / "stages" / name / "final" / "hf",
            tmp_path / "killed" / "stages" / name / "final" / "hf",
        )


def test_a_stage_run_again_is_evaluated_again(data, tiny_llama, tmp_path):
    """The first unfinished stage keeps its folder (for its checkpoints); an evaluation cached
    there by an earlier attempt, under the same model path, must not be reused."""
    from rlsys.pipeline import run_pipeline
    from tests.test_pipeline import done, pipeline
    from tests.test_stage_modes import write_jsonl

    rows = [{"prompt": f"Translate to Portuguese: hello {i}", "reference": f"olá {i}"} for i in range(2)]
    eval_cfg = {
        "data": {"translation": write_jsonl(tmp_path / "flores.jsonl", rows)},
        "max_new_tokens": 2,
        "max_model_len": 128,
    }
    cfg = pipeline(tmp_path, tiny_llama, [{**stage_config("sft", data), "steps": 1}], eval=eval_cfg)
    run_pipeline(cfg)
    scores = tmp_path / "run" / "stages" / "1_sft" / "eval_scores.json"
    before = scores.stat().st_mtime_ns
    (tmp_path / "run" / "stages" / "1_sft" / "DONE").unlink()  # the user asks for the stage again
    run_pipeline(cfg)
    assert scores.stat().st_mtime_ns != before and done(tmp_path, "1_sft")["steps"] == 1
