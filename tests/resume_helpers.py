"""Helpers for the kill-and-resume tests: run `rlsys` as a real subprocess in its own process
group, SIGKILL the whole group at a chosen moment, read back what a run logged.

`crash_in` is the one fault injector: `python -m tests.resume_helpers crash-in NAME STEP -- ARGS`
runs the `rlsys` CLI with ARGS in a process that SIGKILLs its own process group when
`rlsys.core.checkpoints.NAME` is called while writing the checkpoint of step STEP (e.g. `publish`:
every file is in the staging folder, the manifest and the rename are not done). It lives here,
in the tests, and nowhere in the product.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_env(**extra: str) -> dict[str, str]:
    # COLUMNS: rich wraps console lines at 80 columns when not on a terminal; the tests grep them
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "COLUMNS": "400", **extra}


def start(args: list[str], log: Path, env: dict[str, str], crash: tuple[str, int] | None = None) -> subprocess.Popen:
    """`python -m rlsys.cli ARGS` in a new session (its own process group), output to `log`;
    with `crash=(NAME, STEP)`, through `crash_in` (see the module docstring)."""
    entry = (
        ["-m", "rlsys.cli"]
        if crash is None
        else ["-m", "tests.resume_helpers", "crash-in", crash[0], str(crash[1]), "--"]
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *entry, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def finish(proc: subprocess.Popen, log: Path, timeout: float) -> str:
    """Wait for a run that must succeed; returns its output."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise AssertionError(f"run did not end in {timeout} s:\n{log.read_text()[-4000:]}") from None
    text = log.read_text()
    assert code == 0, f"exit code {code}:\n{text[-6000:]}"
    return text


def logged_steps(run_dir: Path) -> list[int]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    steps = []
    for line in path.read_text().splitlines():
        try:
            steps.append(json.loads(line)["step"])
        except (ValueError, KeyError):
            pass  # a line being written
    return steps


def kill_after_step(proc: subprocess.Popen, metrics_dir: Path, step: int, log: Path, timeout: float) -> int:
    """SIGKILL the run's process group as soon as `metrics_dir/metrics.jsonl` records `step`;
    returns the last step logged before the kill."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"the run ended (code {proc.returncode}) before step {step} was logged; "
                f"give it more steps:\n{log.read_text()[-4000:]}"
            )
        if step in logged_steps(metrics_dir):
            kill_group(proc)
            return max(logged_steps(metrics_dir))
        time.sleep(0.02)
    kill_group(proc)
    raise AssertionError(f"step {step} not logged in {timeout} s:\n{log.read_text()[-4000:]}")


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_group(proc: subprocess.Popen) -> None:
    """kill -9 of the run's whole process group, then of any descendant that left it (Ray's)."""
    stragglers = descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in stragglers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=60)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def crash_in(name: str, step: int, args: list[str]) -> None:
    """Run the CLI; SIGKILL this process group when checkpoints.NAME runs for step STEP."""
    import functools

    from rlsys.core import checkpoints

    original = getattr(checkpoints, name)

    @functools.wraps(original)
    def dying(*a, **kw):
        if any(f"step_{step:06d}" in str(x) for x in (*a, *kw.values())):
            os.killpg(os.getpgrp(), signal.SIGKILL)
        return original(*a, **kw)

    setattr(checkpoints, name, dying)
    for module in list(sys.modules.values()):  # `from rlsys.core.checkpoints import NAME` copies
        if getattr(module, name, None) is original and module is not checkpoints:
            setattr(module, name, dying)
    from rlsys.cli import main

    sys.argv = ["rlsys", *args]
    main()


if __name__ == "__main__":
    if sys.argv[1] != "crash-in" or sys.argv[4] != "--":
        raise SystemExit("usage: python -m tests.resume_helpers crash-in NAME STEP -- RLSYS ARGS")
    # import what the CLI will import, so that its copies of NAME can be found and replaced
    import actors.learner  # noqa: F401
    import pretrain_sft.stage  # noqa: F401
    import rlsys.driver  # noqa: F401

    crash_in(sys.argv[2], int(sys.argv[3]), sys.argv[5:])
