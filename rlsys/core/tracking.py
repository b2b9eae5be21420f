"""The run folder and its records: resolved config, metrics JSONL, TensorBoard, console progress.

Layout of a run folder:
    config.yaml            the resolved config the job ran with
    metrics.jsonl          one JSON object per step (flat `group/name` keys)
    samples.jsonl          with `train.log_samples`: prompts, completions and rewards per step
    tensorboard/           TensorBoard event files
    logs/                  with the `rlsys` command: the libraries' output, per process (rlsys/core/logs.py)
    checkpoints/step_N/    hf/ (model + tokenizer + chat template), optimizer state, RNG,
                           trainer_state.json, checkpoint.json (written last; see checkpoints.py)

After a resume from step k, `RunLog.rewind(k)` drops the records of later steps (the killed
attempt's), so metrics.jsonl and TensorBoard hold each step once.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from rlsys.core.checkpoints import (  # noqa: F401  (their home before checkpoints.py)
    checkpoint_dir,
    latest_checkpoint,
    prune_checkpoints,
)
from rlsys.core.config import dump_config
from rlsys.core.logs import terminal_stderr
from rlsys.core.progress import attach

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


class RunLog:
    """Writes one step's metrics to JSONL, TensorBoard and the console (its progress row:
    rlsys/core/progress.py)."""

    def __init__(self, output_dir: str | Path, config: Any, total_steps: int, console: Console | None = None):
        self.dir = Path(output_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "config.yaml").write_text(dump_config(config))
        self.metrics_path = self.dir / "metrics.jsonl"
        self.samples_path = self.dir / "samples.jsonl"
        self.console = console or Console(stderr=True, file=terminal_stderr())  # not the captured stderr
        self._tb: SummaryWriter | None = None
        self._open_tensorboard()
        self.display, self._own_display = attach(self.console)  # the pipeline's, or one of its own
        self.display.begin(None, total_steps)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        record = {"step": step, "time": time.time(), **metrics}
        with self.metrics_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in metrics.items():
                if isinstance(value, int | float) and math.isfinite(value):
                    self._tb.add_scalar(key, value, step)
            self._tb.flush()
        self.display.step(step, metrics)

    def _open_tensorboard(self, purge_step: int | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.console.print("[yellow]tensorboard is not installed: no event files will be written[/]")
            return
        self._tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=purge_step)

    def rewind(self, step: int) -> None:
        """Forget the records of steps after `step` (a resumed run logs them again)."""
        for path in (self.metrics_path, self.samples_path):
            if path.exists():
                kept = [line.rstrip("\n") + "\n" for line in path.read_text().splitlines() if _step_of(line) <= step]
                tmp = path.with_suffix(".jsonl.tmp")
                tmp.write_text("".join(kept))
                tmp.replace(path)
        if self._tb is not None:  # TensorBoard hides events after purge_step written earlier
            self._tb.close()
            self._open_tensorboard(purge_step=step + 1)
        self.display.rewind(step)

    def log_samples(self, step: int, records: list[dict[str, Any]]) -> None:
        """Append per-sample records (prompt, completion, reward, ...) of `step` to samples.jsonl."""
        with self.samples_path.open("a") as fh:
            for record in records:
                fh.write(json.dumps({"step": step, **record}) + "\n")

    def close(self) -> None:
        self.display.end()
        if self._own_display:
            self.display.stop()
        if self._tb is not None:
            self._tb.close()


def _step_of(line: str) -> float:
    """The step of a JSONL record; a torn last line (the job was killed mid-write) counts as after all."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return math.inf
