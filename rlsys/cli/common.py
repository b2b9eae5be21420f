"""What every `rlsys` command shares: the console (stderr), fatal errors, quiet libraries, and
`logged_run`: library output to the run's log files while the command runs (rlsys/core/logs.py)."""

from __future__ import annotations

import os
import re
import shutil
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from rlsys.core import logs

console = Console(stderr=True)

VERBOSE_HELP = (
    "Show the libraries' output (vLLM, Ray, DeepSpeed, ...) on the console too; it is always in the logs/ folder."
)


def quiet_libraries() -> None:
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "INFO")  # into the log files (logged_run), not the console
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # also transformers' weight-loading bars
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")


def fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # paths stay on one line
    raise typer.Exit(2)


@contextmanager
def logged_run(folder: str | Path | None, verbose: bool) -> Iterator[logs.Streams]:
    """Run the body with the process's output (and its Ray actors') in `folder` (None: a
    temporary folder), the console on the terminal. An unexpected error is written to the log
    with its traceback and shown on the console as one line, where to read more, and the last
    lines of the actor log that holds the failure; with `verbose` it propagates as it is."""
    log_folder = Path(folder) if folder is not None else None
    made = first_missing(log_folder) if log_folder is not None else None
    try:
        with logs.capture(folder, verbose) as streams:
            console.file = streams.stderr
            try:
                yield streams
            except (typer.Exit, KeyboardInterrupt):
                raise
            except Exception as exc:
                if verbose:
                    raise
                traceback.print_exc()  # to the driver log
                report_failure(exc)
                raise typer.Exit(1) from None
            finally:
                console.file = None  # type: ignore[assignment]  # back to sys.stderr
    except typer.Exit as exc:
        if exc.exit_code == 2 and made is not None and log_folder is not None and only_logs(made, log_folder):
            shutil.rmtree(made)  # bad input: the command leaves nothing behind (not even the log)
        raise


def first_missing(folder: Path) -> Path | None:
    """The outermost folder of `folder`'s path that does not exist yet (None: it exists)."""
    missing = None
    for path in (folder, *folder.parents):
        if path.exists():
            return missing
        missing = path
    return missing


def only_logs(made: Path, log_folder: Path) -> bool:
    return all(p.is_dir() or log_folder in p.parents for p in made.rglob("*"))


def report_failure(exc: BaseException) -> None:
    """One line for the error (a Ray task error: the worker's own exception), where its traceback
    is, and the last lines of the actor log that explains it."""
    cause = getattr(exc, "cause", None)  # ray.exceptions.RayTaskError: what the actor raised
    shown = cause if isinstance(cause, BaseException) else exc
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(shown)).strip()
    first = text.splitlines()[0] if text else ""
    task = re.search(r"ray::[\w.]+\(\)", str(exc)) if shown is not exc else None  # e.g. ray::Learner.train_step()
    where = f" (in {task.group(0)})" if task else ""
    console.print(
        f"[bold red]error:[/] {escape(f'{type(shown).__name__}: {first}{where}')}", soft_wrap=True, highlight=False
    )
    driver_log, folder = logs.current_log(), logs.log_dir()
    if driver_log is not None:
        console.print(f"the traceback is in {driver_log}", soft_wrap=True, highlight=False)
    for path in logs.failed_actor_logs(folder, exc) if folder is not None and folder.is_dir() else []:
        console.print(f"last lines of {path}:", soft_wrap=True, highlight=False)
        for line in logs.tail(path):
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
