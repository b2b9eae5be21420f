"""A batch's reward budget: a reward still running at the deadline gives `timeout` statuses, the
other rewards of the batch keep their results, and the trainer's RewardWorker applies the
operator's `rewards.batch_timeout_s`. The slow reward blocks on an event (released at the end of
each test), standing in for a reward that sleeps."""

from __future__ import annotations

import threading
import time

import pytest

from actors.reward_worker import RewardWorker
from rewards.base import RewardResult
from rewards.compose import score_rows
from rewards.registry import get_reward
from rlsys.core.config import RewardsConfig

RELEASE = threading.Event()
STARTED = threading.Event()


def slow_reward(completions, **_):
    """Sleeps until the test releases it (at most 60 s), then scores 1."""
    STARTED.set()
    RELEASE.wait(60)
    return [RewardResult.ok(1.0) for _ in completions]


SLOW = "tests.test_reward_deadline:slow_reward"


@pytest.fixture(autouse=True)
def _release_the_slow_reward():
    RELEASE.clear()
    STARTED.clear()
    yield
    RELEASE.set()


def test_unfinished_group_times_out_and_the_rest_is_scored():
    rows = [
        {"reward": "exact_match", "answer": "42"},
        {"reward": SLOW},
        {"reward": [{"name": "exact_match"}, {"name": SLOW}], "answer": "42"},
    ]
    start = time.monotonic()
    results = score_rows(["42", "x", "42"], rows, timeout_s=0.5)
    elapsed = time.monotonic() - start
    assert STARTED.is_set() and elapsed < 30  # returned at the budget, not when the reward would have
    assert results[0].status == "ok" and results[0].score == 1.0
    assert results[1].status == "timeout" and results[1].score is None
    assert "did not finish within the batch budget of 0.5 s" in results[1].reason and SLOW in results[1].reason
    assert results[2].status == "timeout" and results[2].rewards["exact_match"].score == 1.0


def test_a_finished_batch_equals_score_rows():
    from rewards.compose import score_rows

    rows = [{"reward": "exact_match", "answer": a} for a in ("1", "2", "3")]
    assert score_rows(["1", "x", "3"], rows, timeout_s=30) == score_rows(["1", "x", "3"], rows)


def test_bad_budget_and_configuration_errors_raise_before_scoring():
    with pytest.raises(ValueError, match="timeout_s must be a positive"):
        score_rows(["x"], [{"reward": "exact_match", "answer": "x"}], timeout_s=0)
    with pytest.raises(KeyError, match="unknown reward"):
        score_rows(["x"], [{"reward": "no_such_reward"}], timeout_s=1)


def test_reward_worker_applies_the_operators_batch_budget():
    worker = RewardWorker(RewardsConfig(batch_timeout_s=0.5))
    results, seconds = worker.score(["a", "b"], [{"reward": SLOW}, {"reward": "exact_match", "answer": "b"}])
    assert [r.status for r in results] == ["timeout", "ok"] and seconds < 30
    assert RewardsConfig().batch_timeout_s == 300.0
    with pytest.raises(ValueError):
        RewardsConfig(batch_timeout_s=0)
    assert get_reward(SLOW).fn is slow_reward
