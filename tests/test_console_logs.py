"""Quiet console: the libraries' output goes to `<run_dir>/logs/`, the console keeps the progress,
the step metrics and errors (rlsys/core/logs.py, rlsys/core/progress.py, `--verbose`).

The end-to-end cases run `rlsys train` on a real local Ray with a vLLM rollout actor and a
DeepSpeed learner actor, as a subprocess whose stdout and stderr are the "console".
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
VLLM_LINE = re.compile(r"WARNING \d\d-\d\d [\d:]+ \[[\w.]+\.py:\d+\]")  # vLLM's logger format
DEEPSPEED_LINE = re.compile(r"\[(WARNING|INFO)\] \[[\w.]+\.py:\d+:\w+\]")  # DeepSpeed's logger format
RAY_LINE = re.compile(r"(INFO|WARNING) [\w.]+\.py:\d+ -- ")  # Ray's logger format
LIBRARY_LINES = {"vLLM": VLLM_LINE, "DeepSpeed": DEEPSPEED_LINE, "Ray": RAY_LINE}


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "VLLM_LOGGING_LEVEL": "INFO"}


def library_lines(text: str) -> dict[str, list[str]]:
    return {
        name: [line for line in text.splitlines() if pattern.search(line)] for name, pattern in LIBRARY_LINES.items()
    }


# ---------------------------------------------------------------- process level (no Ray)

NOISY = textwrap.dedent("""
    import os, subprocess, sys, warnings
    from rlsys.cli.common import console, logged_run
    from rlsys.core import logs
    with logged_run(sys.argv[1], sys.argv[2] == "verbose") as streams:
        print("python print to stdout")
        warnings.warn("a python warning")
        os.write(2, b"C-level write to fd 2\\n")
        subprocess.run([sys.executable, "-c", "print('a child process')"], check=True)
        console.print("progress for the user")
        print("the table", file=streams.stdout)
        logs.move_to(os.path.join(sys.argv[1], "stage2"))
        print("after the move")
""")


@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_process_output_goes_to_the_log_file(tmp_path, mode):
    res = subprocess.run(
        [sys.executable, "-c", NOISY, str(tmp_path / "logs"), mode],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    log = (tmp_path / "logs" / "driver.log").read_text()
    moved = (tmp_path / "logs" / "stage2" / "driver.log").read_text()
    noise = ("python print to stdout", "a python warning", "C-level write to fd 2", "a child process")
    for text in noise:
        assert text in log
    assert "after the move" in moved and "after the move" not in log
    assert "progress for the user" in res.stderr and "progress for the user" not in log
    assert res.stdout.splitlines()[-1 if mode == "quiet" else -2 :][0] == "the table" or "the table" in res.stdout
    console = res.stdout + res.stderr
    for text in (*noise, "after the move"):
        assert (text in console) == (mode == "verbose"), text


# ---------------------------------------------------------------- a failing Ray actor

FAILING = textwrap.dedent("""
    import sys, tempfile, warnings
    import ray, typer
    from actors.group import ActorGroup
    from rlsys.cli.common import logged_run
    from rlsys.core.logs import ray_log_to_driver

    class Engine:
        def __init__(self):
            print("engine noise while loading")
            warnings.warn("an engine warning")

        def generate(self):
            print("about to fail")
            raise RuntimeError("the engine ran out of KV cache blocks")

    try:
        with logged_run(sys.argv[1], sys.argv[2] == "verbose"):
            ray.init(num_cpus=1, include_dashboard=False, log_to_driver=ray_log_to_driver(),
                     _temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"))
            group = ActorGroup(Engine, 1, num_cpus=0.5, name="engine")
            ray.get(group.run("generate"))
    except typer.Exit as exc:
        ray.shutdown()
        sys.exit(exc.exit_code)
""")


def test_a_failed_actor_is_reported_with_its_log_and_last_lines(tmp_path):
    folder = tmp_path / "logs"
    res = subprocess.run(
        [sys.executable, "-c", FAILING, str(folder), "quiet"], capture_output=True, text=True, env=env(), timeout=300
    )
    assert res.returncode == 1, res.stderr
    actor_log = folder / "engine-0.log"
    log = actor_log.read_text()
    assert "engine noise while loading" in log and "an engine warning" in log and "about to fail" in log
    console = res.stdout + res.stderr
    shown_raw = [line for line in console.splitlines() if "engine noise" in line or "an engine warning" in line]
    assert all(line.startswith("  ") for line in shown_raw)  # only inside the quoted last lines
    assert "error: RuntimeError: the engine ran out of KV cache blocks (in ray::Engine.generate" in console
    assert f"the traceback is in {folder / 'driver.log'}" in console
    assert "Traceback" in (folder / "driver.log").read_text()
    assert f"last lines of {actor_log}" in console and "  about to fail" in console
    assert len(console.splitlines()) < 40  # a short report, not Ray's page


# ---------------------------------------------------------------- the progress display


def test_progress_prints_plain_lines_when_not_a_terminal():
    from rlsys.core.progress import run_display

    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=120)
    with run_display(console, ["1_sft", "2_grpo"]) as display:
        display.skip("1_sft", "already done")
        display.expect("2_grpo")
        display.begin(None, 3)
        for step in (1, 2, 3):
            display.step(step, {"reward/mean": 0.5, "loss": 1.25, "time/step_s": 2.0, "other": 7.0})
        display.end()
    lines = out.getvalue().splitlines()
    assert lines[0] == "2_grpo: 3 steps"
    assert re.fullmatch(r"2_grpo step 1/3  reward 0\.5  loss 1\.25  2 s/step  eta 0:00:0\d", lines[1])
    assert lines[3].startswith("2_grpo step 3/3") and lines[3].endswith("eta 0:00:00")
    assert lines[4].startswith("2_grpo: finished in ")
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()  # no cursor movement


def test_progress_on_a_terminal_shows_every_stage_row():
    from rlsys.core.progress import run_display

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    with run_display(console, ["1_cpt", "2_sft", "3_grpo"]) as display:
        display.skip("1_cpt", "already done")
        display.expect("2_sft")
        display.begin(None, 4)
        display.step(2, {"loss": 3.5, "time/step_s": 0.5})
    final = out.getvalue()
    assert "step" not in final.replace("s/step", "")  # no per-step lines on a terminal: the bar
    for text in ("1_cpt", "already done", "2_sft", "2/4", "loss 3.5", "0.5 s/step", "3_grpo", "waiting"):
        assert text in final, text


# ---------------------------------------------------------------- rlsys train on Ray


@pytest.fixture(scope="module")
def ray_job(tmp_path_factory, tiny_llama):
    tmp = tmp_path_factory.mktemp("job")
    rows = [
        {"prompt": f"What is {i} + {i}? Put the answer in \\boxed{{}}.", "reward": "math", "answer": str(2 * i)}
        for i in range(4)
    ]
    (tmp / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {
        "model": {"path": tiny_llama},
        "cluster": {"type": "ray"},
        "data": {"path": str(tmp / "rows.jsonl")},
        "rollout": {"samples_per_prompt": 2, "max_new_tokens": 8, "max_model_len": 128},
        "learner": {"strategy": "deepspeed", "zero_stage": 2, "lr": 1e-4, "micro_batch_tokens": 256},
        "algorithm": {"zero_variance_groups": "keep"},
        "train": {"steps": 2, "prompts_per_step": 2},
    }
    (tmp / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return tmp


def run_train(job: Path, run: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rlsys.cli", "train", "cfg.yaml", f"run.output_dir={job / run}", *flags],
        cwd=job,
        capture_output=True,
        text=True,
        env={**env(), "RAY_TMPDIR": "/tmp"},
        timeout=900,
    )


@pytest.mark.slow
def test_ray_job_console_is_quiet_and_the_logs_hold_the_libraries(ray_job):
    res = run_train(ray_job, "quiet")
    console = res.stdout + res.stderr
    assert res.returncode == 0, console
    assert library_lines(console) == {"vLLM": [], "DeepSpeed": [], "Ray": []}, console
    assert re.search(r"train step 2/2  reward \S+ .* s/step  eta 0:00:00", console), console
    assert "done: final checkpoint" in console
    logs = ray_job / "quiet" / "logs"
    assert sorted(p.name for p in logs.iterdir()) == ["driver.log", "learner-0.log", "reward-0.log", "rollout-0.log"]
    assert library_lines((logs / "rollout-0.log").read_text())["vLLM"]
    assert library_lines((logs / "learner-0.log").read_text())["DeepSpeed"]
    assert library_lines((logs / "driver.log").read_text())["Ray"]


@pytest.mark.slow
def test_ray_job_verbose_shows_the_libraries_and_still_logs_them(ray_job):
    res = run_train(ray_job, "verbose", "--verbose")
    console = res.stdout + res.stderr
    assert res.returncode == 0, console
    shown = library_lines(console)
    assert shown["vLLM"] and shown["DeepSpeed"] and shown["Ray"], console
    assert re.search(r"\((RolloutWorker|Learner) pid=\d+\)", console)  # Ray forwards the actors' output
    logs = ray_job / "verbose" / "logs"
    assert library_lines((logs / "rollout-0.log").read_text())["vLLM"]
    assert library_lines((logs / "learner-0.log").read_text())["DeepSpeed"]


# ---------------------------------------------------------------- rlsys pipeline


@pytest.mark.slow
def test_pipeline_stages_log_in_their_folders_and_the_console_shows_the_stage_list(tmp_path, tiny_llama):
    from tests.test_stage_modes import stage_config, write_data

    data = write_data(tmp_path / "data")
    stages = [{**stage_config(m, data, strategy="deepspeed", zero_stage=2), "steps": 1} for m in ("sft", "dpo")]
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "run": {"name": "logs", "output_dir": str(tmp_path / "run")},
                "model": {"path": tiny_llama},
                "stages": stages,
            }
        )
    )
    res = subprocess.run(
        [sys.executable, "-m", "rlsys.cli", "pipeline", str(config)],
        capture_output=True,
        text=True,
        env={**env(), "COLUMNS": "200"},
        timeout=600,
    )
    console = res.stdout + res.stderr
    assert res.returncode == 0, console
    assert library_lines(console) == {"vLLM": [], "DeepSpeed": [], "Ray": []}, console
    for line in ("1_sft: 1 steps", "2_dpo: 1 steps"):
        assert line in console.splitlines()
    assert re.search(r"^2_dpo step 1/1  .*loss \S+  .*s/step  eta 0:00:00$", console, re.MULTILINE), console
    assert re.search(r"│ 2_dpo +│ dpo +│", console) and "pipeline_summary.md" in console  # the table, as before
    run = tmp_path / "run"
    for folder in ("logs", "stages/0_base/logs", "stages/1_sft/logs", "stages/2_dpo/logs"):
        assert (run / folder / "driver.log").is_file(), folder
    everything = "".join(p.read_text() for p in run.rglob("logs/*.log"))
    assert library_lines(everything)["DeepSpeed"]
