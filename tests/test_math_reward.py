"""The `math` reward end to end through its process pool: verdicts, timeouts, pool lifecycle.

Timings assume 2 shared cores: limits carry ~1.5 s of slack for process start-up and load.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from rewards import get_reward, score
from rewards.math_verify_reward import WORKER_MEMORY_BYTES, VerifierPool, _pool, close, math_reward

TOWER = "Let me compute: \\boxed{9^{9^{9^9}}}"
SLACK_S = 1.5

# (gold, completion, expected score)
PAIRS = [
    ("1/2", "The answer is \\boxed{\\frac{1}{2}}", 1.0),
    ("\\frac{1}{2}", "\\boxed{0.5}", 1.0),  # \frac vs decimal
    ("0.5", "so $x = \\frac12$", 1.0),  # decimal gold, LaTeX pred without a box
    ("1/3", "\\boxed{0.3333333}", 1.0),  # math-verify rounds to 6 places
    ("1/3", "\\boxed{0.33}", 0.0),
    ("\\frac{3}{4}", "3/4", 1.0),  # LaTeX gold, plain pred
    ("[1, 2)", "\\boxed{[1,2)}", 1.0),  # interval
    ("[1, 2)", "\\boxed{(1,2)}", 0.0),  # wrong endpoint
    ("\\{1,2,3\\}", "\\boxed{\\{3,2,1\\}}", 1.0),  # set order does not matter
    ("1,2", "\\boxed{2, 1}", 1.0),
    ("\\sqrt{2}/2", "\\boxed{\\frac{\\sqrt{2}}{2}}", 1.0),
    ("x^2+1", "\\boxed{1 + x^2}", 1.0),  # symbolic
    ("2\\pi", "\\boxed{6.283185}", 1.0),
    ("10^{3}", "\\boxed{1000}", 1.0),
    ("42", "The final answer is 42", 1.0),  # plain text, no box
    ("42", "\\boxed{41}", 0.0),
    ("3", "\\boxed{-3}", 0.0),
    ("\\text{Monday}", "\\boxed{\\text{Monday}}", 1.0),
    (42, "\\boxed{42}", 1.0),  # a numeric column value
    ("7", "First \\boxed{5}. That was wrong, redo it: the answer is \\boxed{7}", 1.0),  # last box wins
    ("5", "First \\boxed{5}. That was wrong, redo it: the answer is \\boxed{7}", 0.0),
    ("x \\le 3", "\\boxed{(-\\infty, 3]}", 1.0),  # gold first: a relation gold accepts an interval
    ("(-\\infty, 3]", "\\boxed{x \\le 3}", 0.0),  # ... but not the other way round
]


@pytest.fixture(scope="module", autouse=True)
def _stop_pool():
    yield
    close()


def test_pairs_in_one_batch():
    results = math_reward([p for _, p, _ in PAIRS], answer=[g for g, _, _ in PAIRS])
    for (gold, pred, expected), result in zip(PAIRS, results, strict=True):
        assert (result.status, result.score) == ("ok", expected), (gold, pred, result)


def test_registered_and_scored_through_registry():
    spec = get_reward("math")
    assert spec.columns == ("answer",)
    results = score(spec, ["\\boxed{4}", "\\boxed{5}"], {"answer": ["4", "4"], "unused": [1, 2]})
    assert [r.score for r in results] == [1.0, 0.0]


def test_missing_answer_is_zero_with_reason():
    results = math_reward(["I am not sure.", ""], answer=["4", "4"])
    assert [(r.status, r.score, r.reason) for r in results] == [("ok", 0.0, "no answer found")] * 2


@pytest.mark.parametrize("gold", ["\\frac{", "$$", "???", None, "  ", ["4"], True])
def test_bad_gold_is_an_error_naming_the_column(gold):
    (result,) = math_reward(["\\boxed{4}"], answer=[gold])
    assert result.status == "error" and result.score is None
    assert "column 'answer'" in result.reason


def test_tower_times_out_inside_math_verify():
    start = time.monotonic()
    (result,) = math_reward([TOWER], answer=["1"], timeout_s=1, hard_timeout_s=5)
    elapsed = time.monotonic() - start
    assert result.status == "timeout" and result.score is None, result
    assert "timeout_s=1" in result.reason
    assert elapsed < 1 + SLACK_S


def test_hard_limit_kills_and_replaces_the_worker():
    pool = _pool()
    math_reward(["\\boxed{1}"], answer=["1"], workers=1)
    before = pool.worker_pids()
    start = time.monotonic()
    (result,) = math_reward([TOWER], answer=["1"], timeout_s=30, hard_timeout_s=1, workers=1)
    elapsed = time.monotonic() - start
    assert result.status == "timeout" and "hard_timeout_s=1" in result.reason, result
    assert elapsed < 1 + SLACK_S
    assert pool.worker_pids() != before
    with pytest.raises(ProcessLookupError):
        os.kill(before[0], 0)


def test_batch_goes_on_after_a_timeout():
    completions = [TOWER, "\\boxed{2}", "\\boxed{\\frac{6}{4}}", "\\boxed{0}"]
    answers = ["1", "2", "1.5", "1"]
    results = math_reward(completions, answer=answers, timeout_s=30, hard_timeout_s=1, workers=1)
    assert results[0].status == "timeout"
    assert [(r.status, r.score) for r in results[1:]] == [("ok", 1.0), ("ok", 1.0), ("ok", 0.0)]


def test_duplicates_are_judged_once():
    start = time.monotonic()
    results = math_reward(
        ["\\boxed{3}", TOWER, "\\boxed{3}", TOWER, TOWER],
        answer=["3", "1", "3", "1", "1"],
        timeout_s=30,
        hard_timeout_s=1,
        workers=1,
    )
    elapsed = time.monotonic() - start
    assert [(r.status, r.score) for r in results] == [("ok", 1.0), ("timeout", None)] * 2 + [("timeout", None)]
    assert elapsed < 1 + SLACK_S  # three separate towers would need 3 s on one worker


def test_workers_are_reused_and_restart_after_close():
    math_reward(["\\boxed{1}"], answer=["1"], workers=2)
    pids = _pool().worker_pids()
    math_reward(["\\boxed{1}"], answer=["1"], workers=2)
    assert _pool().worker_pids() == pids
    close()
    assert _pool().worker_pids() == []
    (result,) = math_reward(["\\boxed{1}"], answer=["1"], workers=2)
    assert result.score == 1.0 and len(_pool().worker_pids()) == 2


def test_worker_killed_from_outside_is_replaced():
    math_reward(["\\boxed{1}"], answer=["1"], workers=1)
    (pid,) = _pool().worker_pids()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    (result,) = math_reward(["\\boxed{1}"], answer=["1"], workers=1)
    assert result.score == 1.0 and _pool().worker_pids() != [pid]


def test_workers_run_under_a_memory_limit():
    math_reward(["\\boxed{1}"], answer=["1"], workers=1)  # the one worker has answered: it is set up
    for pid in _pool().worker_pids():
        with open(f"/proc/{pid}/limits") as limits:
            line = next(x for x in limits if x.startswith("Max address space"))
        assert line.split()[3] == str(WORKER_MEMORY_BYTES), line


def test_non_string_completion_is_an_error():
    (result,) = math_reward([[{"role": "assistant", "content": "\\boxed{1}"}]], answer=["1"])
    assert result.status == "error" and "completion 0" in result.reason


def test_called_from_threads():
    """math-verify alone raises ValueError outside the main thread; the pool makes threads safe."""
    outcomes: dict[int, list] = {}

    def call(k: int) -> None:
        outcomes[k] = [r.score for r in math_reward([f"\\boxed{{{k}}}", "\\boxed{0}"], answer=[str(k)] * 2)]

    threads = [threading.Thread(target=call, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert outcomes == {k: [1.0, 0.0] for k in range(1, 5)}


def test_fractional_timeout_is_refused():
    with pytest.raises(ValueError, match="timeout_s"):
        math_reward(["\\boxed{1}"], answer=["1"], timeout_s=0.5)
    (result,) = score(get_reward("math"), ["\\boxed{1}"], {"answer": ["1"], "timeout_s": 0.5})
    assert result.status == "error" and "whole number of seconds" in result.reason


def test_workers_that_cannot_start_fail_the_batch_instead_of_hanging():
    pool = VerifierPool(memory_bytes=16 << 20)  # too little address space to import SymPy
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="exited during start-up"):
        pool.run([("1", "\\boxed{1}")], timeout_s=1, hard_timeout_s=5, workers=1)
    assert time.monotonic() - start < 30 and pool.worker_pids() == []
