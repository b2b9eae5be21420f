"""One progress display per run: a row per stage (or one row for a single run) with a bar per
step, elapsed time, ETA and a short metrics line.

On a terminal the rows are a live `rich.progress.Progress` (stages not yet started wait with an
empty bar; the current one fills, with its ETA; finished ones keep their time and last
metrics). Anywhere else (CI logs, a pipe, Ray Jobs' log) it prints plain lines, one per step and
one per stage start and end, without cursor movement.

The pipeline opens the display with its stage list (`run_display`); the step loggers
(`RunLog` in rlsys/core/tracking.py) attach to the open display, or open one of their own when
they run alone (`rlsys train`). Not covered: an ETA for stages not yet started (their step
count and speed are known only when they start).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

SHORT = (
    ("reward/mean", "reward", ".3g"),
    ("accuracy", "acc", ".3g"),
    ("rewards/accuracy", "acc", ".3g"),
    ("loss", "loss", ".4g"),
    ("kl", "kl", ".2g"),
    ("completion/len_mean", "len", ".3g"),
)
"""Metrics shown on the console (metric, label, format); every metric is in metrics.jsonl."""


def metrics_line(metrics: dict[str, float]) -> str:
    parts = [f"{label} {metrics[key]:{fmt}}" for key, label, fmt in SHORT if isinstance(metrics.get(key), int | float)]
    if isinstance(metrics.get("time/step_s"), int | float):
        parts.append(f"{metrics['time/step_s']:.3g} s/step")
    return "  ".join(parts)


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Display:
    """Rows of steps on `console`: live on a terminal, plain lines elsewhere."""

    def __init__(self, console: Console):
        self.console = console
        self.live = console.is_terminal and not console.is_dumb_terminal
        self.progress = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=console,
            )
            if self.live
            else None
        )
        self.rows: dict[str, TaskID] = {}
        self.current: str | None = None
        self.upcoming: str | None = None
        self.total, self.first, self.started = 0, 0, 0.0
        if self.progress is not None:
            self.progress.start()

    def plan(self, names: list[str]) -> None:
        """Rows for stages that will run in this order (shown waiting until they start)."""
        for name in names:
            if self.progress is not None:
                self.rows[name] = self.progress.add_task(name, total=None, start=False, info="waiting")
            else:
                self.rows[name] = TaskID(len(self.rows))

    def expect(self, name: str) -> None:
        """The next `begin` without a name fills the row `name` (the pipeline's next stage)."""
        self.upcoming = name

    def begin(self, name: str | None, total: int, done: int = 0) -> None:
        """Start the row `name` (default: the expected one, else "train"; added if it was not
        planned) at step `done` of `total`."""
        name, self.upcoming = name or self.upcoming or "train", None
        self.current, self.total, self.first, self.started = name, total, done, time.perf_counter()
        if self.progress is not None:
            if name not in self.rows:
                self.rows[name] = self.progress.add_task(name, total=total, start=False, info="")
            self.progress.reset(self.rows[name], total=total, completed=done, info="", start=True)
        else:
            self.rows.setdefault(name, TaskID(len(self.rows)))
            self.console.print(f"{name}: {total} steps" + (f", from step {done}" if done else ""), highlight=False)

    def step(self, step: int, metrics: dict[str, float]) -> None:
        info = metrics_line(metrics)
        if self.progress is not None and self.current is not None:
            self.progress.update(self.rows[self.current], completed=step, info=info)
            return
        elapsed = time.perf_counter() - self.started
        eta = elapsed / max(step - self.first, 1) * (self.total - step)
        self.console.print(f"{self.current} step {step}/{self.total}  {info}  eta {_clock(eta)}", highlight=False)

    def rewind(self, step: int) -> None:
        """The run continues after `step` (a resume): the ETA counts from here."""
        self.first, self.started = step, time.perf_counter()
        if self.progress is not None and self.current is not None:
            self.progress.reset(self.rows[self.current], total=self.total, completed=step, start=True)

    def skip(self, name: str, why: str) -> None:
        """A planned row that will not run (a stage already done)."""
        if self.progress is not None and name in self.rows:
            self.progress.update(self.rows[name], total=1, completed=1, info=why)

    def end(self) -> None:
        if self.current is None:
            return
        if self.progress is not None:
            self.progress.stop_task(self.rows[self.current])
        else:
            took = time.perf_counter() - self.started
            self.console.print(f"{self.current}: finished in {_clock(took)}", highlight=False)
        self.current = None

    def stop(self) -> None:
        self.end()
        if self.progress is not None:
            self.progress.stop()


_open: Display | None = None


@contextmanager
def run_display(console: Console, planned: list[str] | None = None) -> Iterator[Display]:
    """The display of a run with several parts (the pipeline's stages); step loggers attach to it."""
    global _open
    display = Display(console)
    display.plan(planned or [])
    _open = display
    try:
        yield display
    finally:
        _open = None
        display.stop()


def attach(console: Console) -> tuple[Display, bool]:
    """(the open display, False), or (a new display on `console` that the caller stops, True)."""
    if _open is not None:
        return _open, False
    return Display(console), True
