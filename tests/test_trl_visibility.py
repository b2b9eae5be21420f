"""The math reward used from a TRL-style script through `rewards.adapters.trl_reward_func`.

Real scripts in a subprocess, calling the adapter the way TRL's GRPOTrainer does (keyword
arguments prompts/completions/dataset columns), at top level without an
`if __name__ == "__main__":` guard. The math reward's workers must not re-run the script (with
multiprocessing's spawn they did: a TRL script re-ran its training in every worker and every
sample failed), and samples the reward could not score must be explained once on stderr, not
only show up as `rewards/math/mean: None`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "train_like_trl.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )


def test_script_without_main_guard_is_not_re_run_by_the_workers(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        print("TOP-LEVEL CODE RAN", flush=True)
        from rewards.adapters import trl_reward_func
        math = trl_reward_func("math")
        for step in range(3):
            print("step", step, math(prompts=["1+1?", "2+2?"], completions=["\\\\boxed{2}", "\\\\boxed{5}"],
                                     answer=["2", "4"], completion_ids=[[1], [2]]), flush=True)
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("TOP-LEVEL CODE RAN") == 1, done.stdout
    assert done.stdout.count("[1.0, 0.0]") == 3, done.stdout


def test_unscored_samples_are_explained_once(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        from rewards.adapters import trl_reward_func
        math = trl_reward_func("math")
        for step in range(5):
            print(math(prompts=["q"] * 2, completions=["\\\\boxed{2}"] * 2, answer=["", "2"]), flush=True)
    """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("[None, 1.0]") == 5
    warnings = [line for line in done.stderr.splitlines() if "gave no score" in line]
    assert len(warnings) == 1, done.stderr  # rate-limited: once, not every step
    assert "reward 'math' gave no score to 1 of 2 samples (error: 1)" in warnings[0]
    assert "column 'answer' is empty" in warnings[0] and "None/NaN" in warnings[0]
