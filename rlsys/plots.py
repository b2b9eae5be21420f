"""Plots written into run folders (matplotlib, headless)."""

from __future__ import annotations

import json
import math
from pathlib import Path


def plot_reward_curve(metrics_path: str | Path, out_png: str | Path) -> Path | None:
    """Mean reward (and each reward's mean) per step from a run's metrics.jsonl."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(metrics_path).read_text().splitlines() if line.strip()]
    if not rows:
        return None
    keys = ["reward/mean"] + sorted(
        {k for r in rows for k in r if k.startswith("reward/") and k.endswith("/mean") and k.count("/") == 2}
    )
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    for key in keys:
        points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), int | float) and math.isfinite(r[key])]
        if points:
            ax.plot(*zip(*points), marker="o", markersize=3, label=key.removeprefix("reward/"))
    ax.set_xlabel("step")
    ax.set_ylabel("mean reward")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return Path(out_png)


def plot_pareto(points: list[dict], out_png: str | Path) -> Path | None:
    """Translation score (y) against general score (x) per stage, in stage order, with the Pareto
    front marked and regressions in red; `points` are pipeline_summary.json's `pareto` rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [p for p in points if p["translation"] is not None and p["general"] is not None]
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    xs, ys = [p["general"] for p in shown], [p["translation"] for p in shown]
    ax.plot(xs, ys, color="0.7", linewidth=1, zorder=1)
    for p in shown:
        color = "tab:red" if p["gate"] else "tab:blue" if p["pareto_front"] else "0.5"
        ax.scatter(p["general"], p["translation"], s=60 if p["pareto_front"] else 30, color=color, zorder=2)
        ax.annotate(p["stage"], (p["general"], p["translation"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    front = sorted((p["general"], p["translation"]) for p in shown if p["pareto_front"])
    if len(front) > 1:
        ax.plot(*zip(*front), color="tab:blue", linestyle="--", linewidth=1, label="Pareto front", zorder=1)
        ax.legend(fontsize=8, loc="lower right")
    ax.margins(0.12)
    ax.set_xlabel("general score (instructions, math, code, judge)")
    ax.set_ylabel("translation score (chrF / 100)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return Path(out_png)
