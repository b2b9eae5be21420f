"""`rlsys submit`: run `rlsys train` on a Ray cluster through Ray Jobs.

The working dir is uploaded (minus virtualenvs, run folders and caches); the job's entrypoint
is `python -m rlsys.cli train CONFIG ... --address auto` run with the cluster's Python, so the
cluster needs rlsys's dependencies installed (the same virtualenv on a single machine). Ray's
token auth (on by default in Ray 2.60) is honoured: the token is read from `RAY_AUTH_TOKEN` or
`~/.ray/auth_token` by Ray itself when `RAY_AUTH_MODE=token` is set, which this sets if a token
file exists.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from rich.console import Console

EXCLUDES = [".venv", ".venv-qe", "runs", ".git", "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info"]


def submit_job(
    address: str,
    config: Path,
    overrides: list[str],
    working_dir: Path,
    env: list[str],
    follow: bool,
    console: Console,
    timeout_s: float | None = None,
) -> int:
    """Submit, optionally follow the logs, and return 0 if the job succeeded, 1 otherwise."""
    import os

    if "RAY_AUTH_MODE" not in os.environ and (Path.home() / ".ray" / "auth_token").exists():
        os.environ["RAY_AUTH_MODE"] = "token"
    from ray.job_submission import JobStatus, JobSubmissionClient

    env_vars = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--env {item!r} is not KEY=VALUE")
        env_vars[key] = value
    entrypoint = " ".join(
        [
            "python",
            "-m",
            "rlsys.cli",
            "train",
            shlex.quote(str(config)),
            *map(shlex.quote, overrides),
            "--address",
            "auto",
        ]
    )
    client = JobSubmissionClient(address)
    job_id = client.submit_job(
        entrypoint=entrypoint,
        runtime_env={"working_dir": str(working_dir), "excludes": EXCLUDES, "env_vars": env_vars},
    )
    console.print(f"submitted job [bold]{job_id}[/] to {address}: {entrypoint}")
    if not follow:
        return 0
    start, printed = time.monotonic(), 0
    terminal = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}
    while True:
        status = client.get_job_status(job_id)
        logs = client.get_job_logs(job_id)
        if len(logs) > printed:
            print(logs[printed:], end="", flush=True)
            printed = len(logs)
        if status in terminal:
            break
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            client.stop_job(job_id)
            console.print(f"[red]job {job_id} did not finish in {timeout_s} s; stopped[/]")
            return 1
        time.sleep(1.0)
    console.print(f"job {job_id}: {status.value}")
    return 0 if status == JobStatus.SUCCEEDED else 1
