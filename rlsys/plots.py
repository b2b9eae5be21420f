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
    keys = ["reward/mean"] + sorted({k for r in rows for k in r if k.startswith("reward/") and k.endswith("/mean")
                                     and k.count("/") == 2})
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
