"""The run folder and its records: resolved config, metrics JSONL, TensorBoard, console.

Layout of a run folder:
    config.yaml            the resolved config the job ran with
    metrics.jsonl          one JSON object per step (flat `group/name` keys)
    tensorboard/           TensorBoard event files
    checkpoints/step_N/    hf/ (model + tokenizer + chat template), optimizer state, trainer_state.json
"""
from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rlsys.core.config import dump_config


class RunLog:
    """Writes one step's metrics to JSONL, TensorBoard and the console."""

    SHOWN = ("reward/mean", "accuracy", "completion/len_mean", "loss", "kl", "time/step_s", "tokens_per_s")

    def __init__(self, output_dir: str | Path, config: Any, total_steps: int, console: Console | None = None):
        self.dir = Path(output_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "config.yaml").write_text(dump_config(config))
        self.metrics_path = self.dir / "metrics.jsonl"
        self.console = console or Console(stderr=True)
        self._tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.dir / "tensorboard"))
        except ImportError:
            self.console.print("[yellow]tensorboard is not installed: no event files will be written[/]")
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=self.console, transient=False,
        )
        self.task = self.progress.add_task("train", total=total_steps, info="")
        self.progress.start()

    def log(self, step: int, metrics: dict[str, float]) -> None:
        record = {"step": step, "time": time.time(), **metrics}
        with self.metrics_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in metrics.items():
                if isinstance(value, int | float) and math.isfinite(value):
                    self._tb.add_scalar(key, value, step)
            self._tb.flush()
        info = "  ".join(f"{k}={metrics[k]:.3g}" for k in self.SHOWN if k in metrics)
        self.progress.update(self.task, completed=step, info=info)
        self.progress.console.print(f"step {step}: {info}")

    def close(self) -> None:
        self.progress.stop()
        if self._tb is not None:
            self._tb.close()


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:06d}"


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest checkpoint whose trainer_state.json was written (written last = complete)."""
    done = sorted(p.parent for p in (Path(run_dir) / "checkpoints").glob("step_*/trainer_state.json"))
    return done[-1] if done else None


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    done = sorted(p.parent for p in (Path(run_dir) / "checkpoints").glob("step_*/trainer_state.json"))
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
