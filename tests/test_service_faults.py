"""The reward server under load with faults, bounded for CI: real uvicorn server, real sockets.

32 concurrent clients x 8 actions x 3 rounds on 127.0.0.1, mixing well-formed requests with
clients that cut their body short, hang up before the answer, or send random bytes
(benchmarks/fault_load.py; run it with bigger numbers for docs/reliability.md). Every
well-formed request gets its expected answer, the server reports no 5xx and logs no traceback,
and its memory does not grow from round to round.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "fault_load.py"


@pytest.mark.timeout(120)
def test_every_well_formed_request_is_answered_under_faults() -> None:
    spec = importlib.util.spec_from_file_location("fault_load", BENCH)
    fault_load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fault_load)
    result = fault_load.fault_load(clients=32, actions=8, rounds=3, seed=1)
    totals = result["totals"]
    assert result["errors"] == [] and totals["unanswered"] == 0 and totals["answered_wrong"] == 0, result
    assert totals["answered_right"] == sum(totals[k] for k in ("score", "score_key", "bad_json", "oversize"))
    assert min(totals[k] for k in ("cut_body", "hang_up", "garbage")) > 0  # every fault was tried
    assert result["server_alive"] and result["server_5xx"] == 0 and result["tracebacks_in_log"] == 0, result
    rss = result["rss_mb_after_each_round"]
    assert rss[-1] - rss[0] < 25 and rss[-1] < 400, rss  # bounded: no growth per round of 256 actions
