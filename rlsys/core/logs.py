"""Where a run's output goes: library chatter to `<run_dir>/logs/`, the console for rlsys itself.

vLLM, Ray, DeepSpeed, transformers, torch and tqdm write to the process's stdout and stderr,
from Python and from C++, in the driver and in every Ray actor. Python logging levels cannot
catch all of it (C++ warnings, `print`, tqdm bars, child processes), so this module works one
level down: it points file descriptors 1 and 2 of the process at a log file (`os.dup2`), which
every library, thread and child process inherits. The console of the `rlsys` command keeps a
copy of the terminal's descriptors (`Streams`); with `verbose`, a thread copies the output to
the log file and to the terminal alike.

    logs/driver.log          the process that runs the command (its stages, its inline workers)
    logs/<name>-<rank>.log   each Ray actor (learner-0, rollout-1, reward-0, ...), opened by
                             `actor_setup` in the actor before its constructor runs

`capture(log_dir, verbose)` is the command's side (it sets RLSYS_LOG_DIR / RLSYS_VERBOSE, which
`actor_env` hands to the actors it starts); `move_to` points the driver at another folder (each
pipeline stage logs under its own folder); `failure_report` says where the details of an error
are (the driver log, and the last lines of an actor log that ended in an error).

Not covered: output of processes not started by this run (a Ray cluster joined with
`--address` keeps its raylet logs in its own session folder); log rotation; library code that
holds a copy of the terminal's descriptor made before `capture` ran.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LOG_DIR = "RLSYS_LOG_DIR"
"""Environment: the folder where the run's processes write their logs (set by `capture`)."""
LOG_FILE = "RLSYS_LOG_FILE"
"""Environment of one actor: its own log file (set per actor by `actor_env`)."""
VERBOSE = "RLSYS_VERBOSE"
"""Environment: "1" copies every process's output to the console as well."""


@dataclass
class Streams:
    """The terminal's stdout and stderr, kept while descriptors 1 and 2 go to the log file."""

    stdout: IO[str]
    stderr: IO[str]
    log_file: Path


def verbose() -> bool:
    return os.environ.get(VERBOSE) == "1"


def log_dir() -> Path | None:
    value = os.environ.get(LOG_DIR)
    return Path(value) if value else None


def actor_log_env(name: str) -> dict[str, str]:
    """Environment entries that make the actor `name` (e.g. "rollout-0") log to its own file;
    {} when no run folder is set (library use: output stays where Ray puts it)."""
    folder = log_dir()
    if folder is None:
        return {}
    return {LOG_DIR: str(folder), LOG_FILE: str(folder / f"{name}.log"), VERBOSE: os.environ.get(VERBOSE, "0")}


def ray_log_to_driver() -> bool:
    """`ray.init(log_to_driver=...)`: Ray copies every worker's output to the driver's console
    unless the run keeps it in its log files (captured and not verbose)."""
    return log_dir() is None or verbose()


class _Redirect:
    """Descriptors 1 and 2 of this process pointed at a log file (and, verbose, at the old ones too)."""

    def __init__(self, path: Path, tee: bool):
        self.tee = tee
        self.saved = {fd: os.dup(fd) for fd in (1, 2)}
        self.lock = threading.Lock()
        self.path, self.file = path, _open_log(path)
        self.threads: list[threading.Thread] = []
        _flush_std()
        if tee:
            for fd in (1, 2):
                read, write = os.pipe()
                os.dup2(write, fd)
                os.close(write)
                thread = threading.Thread(
                    target=self._copy, args=(read, self.saved[fd]), daemon=True, name=f"rlsys-log-tee-{fd}"
                )
                thread.start()
                self.threads.append(thread)
        else:
            self._point_at(self.file)

    def _point_at(self, file: IO[bytes]) -> None:
        for fd in (1, 2):
            os.dup2(file.fileno(), fd)

    def _copy(self, read: int, terminal: int) -> None:
        """Verbose: what arrives on the pipe goes to the log file and to the terminal."""
        try:
            while chunk := os.read(read, 65536):
                with self.lock:
                    self.file.write(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(terminal, view) :]
        except (OSError, ValueError):  # the terminal or the file was closed: nothing more to copy
            pass
        finally:
            os.close(read)

    def move(self, path: Path) -> None:
        _flush_std()
        new = _open_log(path)
        with self.lock:
            old, self.file, self.path = self.file, new, path
            if not self.tee:
                self._point_at(new)
        old.close()

    def restore(self) -> None:
        _flush_std()
        for fd, saved in self.saved.items():
            os.dup2(saved, fd)  # closes the pipe's last write end that this process holds
        for thread in self.threads:
            thread.join(timeout=2)  # a child process may still hold a write end: do not wait for it
        for saved in self.saved.values():
            os.close(saved)
        with self.lock:
            self.file.close()


def _open_log(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    file = open(path, "ab", buffering=0)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    file.write(f"==== {path.stem}: pid {os.getpid()}, started {stamp} ====\n".encode())
    return file


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass


_active: _Redirect | None = None
_terminal: Streams | None = None


def terminal_stderr() -> IO[str] | None:
    """The terminal's stderr while `capture` runs (for consoles made meanwhile), else None."""
    return _terminal.stderr if _terminal is not None else None


def _has_real_descriptors() -> bool:
    """False under a test runner that swaps sys.stdout/err for in-memory streams (nothing to redirect)."""
    try:
        return sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2
    except (AttributeError, ValueError, OSError):
        return False


@contextmanager
def capture(folder: str | Path | None, verbose_console: bool = False, name: str = "driver") -> Iterator[Streams]:
    """Send this process's stdout/stderr to `folder/<name>.log` (and the console too with
    `verbose_console`); yields the terminal's streams for the console. The environment tells the
    actors started meanwhile where to log. Everything is put back on exit."""
    global _active, _terminal
    previous = {key: os.environ.get(key) for key in (LOG_DIR, VERBOSE)}
    folder = Path(folder) if folder is not None else Path(_temporary_folder())
    os.environ[LOG_DIR] = str(folder)
    os.environ[VERBOSE] = "1" if verbose_console else "0"
    redirect = _Redirect(folder / f"{name}.log", tee=verbose_console) if _has_real_descriptors() else None
    _active = redirect
    terminal_out = os.fdopen(os.dup(redirect.saved[1]), "w", buffering=1) if redirect else sys.stdout
    terminal_err = os.fdopen(os.dup(redirect.saved[2]), "w", buffering=1) if redirect else sys.stderr
    _terminal = Streams(terminal_out, terminal_err, folder / f"{name}.log")
    try:
        yield _terminal
    finally:
        _active = _terminal = None
        if redirect is not None:
            redirect.restore()
            terminal_out.close()
            terminal_err.close()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def move_to(folder: str | Path, name: str = "driver") -> Path | None:
    """Point the driver's log (and the actors started from now on) at `folder`; None when
    nothing is being captured."""
    if os.environ.get(LOG_DIR) is None:
        return None
    folder = Path(folder)
    os.environ[LOG_DIR] = str(folder)
    if _active is not None:
        _active.move(folder / f"{name}.log")
    return folder / f"{name}.log"


def actor_setup() -> None:
    """In a Ray actor, before its constructor: send its output to the file its environment names."""
    global _active
    path = os.environ.get(LOG_FILE)
    if not path or _active is not None:
        return
    _active = _Redirect(Path(path), tee=verbose())


def _temporary_folder() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="rlsys-logs-")


# ---------------------------------------------------------------- errors


def tail(path: Path, lines: int = 15) -> list[str]:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 64 * 1024))
        text = fh.read().decode("utf-8", errors="replace")
    return [line.rstrip() for line in text.splitlines()[-lines:]]


ERROR_MARK = re.compile(r"Traceback \(most recent call last\)|\b\w*(Error|Exception)\b:|Fatal Python error")


def failed_actor_logs(folder: Path, error: BaseException | None = None) -> list[Path]:
    """Actor logs of `folder` that explain `error`: the one of the process the error names (Ray
    puts `pid=N` in its errors and each log starts with its pid), else those whose last lines
    hold a traceback or an error."""
    logs = sorted(p for p in folder.glob("*.log") if p.name != "driver.log")
    pids = set(re.findall(r"pid=(\d+)", str(error))) if error is not None else set()
    named = [p for p in logs if pids & _pids(p)]
    return named or [p for p in logs if any(ERROR_MARK.search(line) for line in tail(p, 40))]


def _pids(path: Path) -> set[str]:
    """The pids of the processes that wrote `path` (each writes a header line when it opens it)."""
    with open(path, "rb") as fh:
        return {m.group(1).decode() for line in fh if (m := re.match(rb"==== .*: pid (\d+), started", line))}


def current_log() -> Path | None:
    """The log file this process writes to now (None: not captured)."""
    return _active.path if _active is not None else None
