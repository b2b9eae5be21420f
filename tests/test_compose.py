"""rewards.compose: the row -> reward(s) scoring shared by the trainer, the service and the client."""

from __future__ import annotations

import pytest

from rewards import registry
from rewards.base import RewardResult
from rewards.compose import CompositeResult, parse_reward_field, score_rows
from rewards.registry import list_rewards, reward


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, dict]]:
    """Registers `rec` (optional column `hint`), `anything` (no declared columns) and `flaky`."""
    list_rewards()  # built-ins go into the real registry before it is swapped for a copy
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    calls: list[tuple[str, int, dict]] = []

    @reward("rec", columns=("answer",), optional=("hint",), description="Records its calls (tests).")
    def rec(completions, answer, hint, *, bonus=0.0, **extra):
        calls.append(("rec", len(completions), {"answer": answer, "hint": hint, **extra}))
        return [float(c == a) + bonus for c, a in zip(completions, answer)]

    @reward("anything", description="Records every column it gets (tests).")
    def anything(completions, **columns):
        calls.append(("anything", len(completions), columns))
        return [0.5] * len(completions)

    @reward("flaky", description="Times out on 'slow' completions, errors on 'bad' ones (tests).")
    def flaky(completions, **_):
        return [
            RewardResult.timeout("too slow")
            if c == "slow"
            else RewardResult.error("broken")
            if c == "bad"
            else RewardResult.ok(1.0)
            for c in completions
        ]

    return calls


def test_single_and_weighted_composites(recorded: list) -> None:
    rows = [
        {"reward": "rec", "answer": "a"},
        {"reward": [{"name": "rec", "weight": 2.0}, {"name": "flaky", "weight": -0.5}], "answer": "b"},
        {"reward": [{"name": "rec"}], "answer": "x"},
    ]
    results = score_rows(["a", "b", "c"], rows)
    assert [r.score for r in results] == [1.0, 1.5, 0.0]
    assert results[1].rewards == {"rec": RewardResult.ok(1.0), "flaky": RewardResult.ok(1.0)}
    assert [c[:2] for c in recorded] == [("rec", 3)]  # one batched call per reward


def test_first_failing_component_decides(recorded: list) -> None:
    two = [{"name": "flaky"}, {"name": "rec"}]
    rows = [{"reward": two, "answer": "slow"}, {"reward": list(reversed(two)), "answer": "x"}, {"reward": "flaky"}]
    timed_out, errored, single = score_rows(["slow", "bad", "bad"], rows)
    assert (timed_out.status, timed_out.score, timed_out.reason) == ("timeout", None, "flaky: too slow")
    assert timed_out.rewards["rec"].score == 1.0  # the other component's result is kept
    assert (errored.status, errored.reason) == ("error", "flaky: broken")
    assert (single.status, single.reason) == ("error", "broken")  # no prefix for a single reward


def test_columns_optional_missing_and_undeclared(recorded: list) -> None:
    rows = [
        {"reward": "rec", "answer": "a", "hint": "h", "extra": 1},
        {"reward": "rec", "extra": 2},
        {"reward": "rec", "answer": "c"},
        {"reward": "anything", "answer": "z", "extra": 3},
    ]
    ok, missing, no_hint, anything = score_rows(["a", "b", "c", "d"], rows)
    assert ok.score == 1.0 and no_hint.score == 1.0 and anything.score == 0.5
    assert missing.status == "error" and "needs column(s) ['answer']" in missing.reason
    rec_call = next(c for c in recorded if c[0] == "rec")
    assert rec_call[1:] == (2, {"answer": ["a", "c"], "hint": ["h", None]})  # declared columns only
    any_call = next(c for c in recorded if c[0] == "anything")
    assert any_call[2] == {"answer": ["z"], "extra": [3]}  # undeclared: every column but `reward`


def test_settings_are_keyword_arguments_and_must_not_clash(recorded: list) -> None:
    rows = [{"reward": "rec", "answer": "a"}]
    assert score_rows(["a"], rows, {"rec": {"bonus": 0.25}})[0].score == 1.25
    (clash,) = score_rows(["a"], rows, {"rec": {"hint": 1}})
    assert clash.status == "error" and "clash with column(s)" in clash.reason


def test_configuration_mistakes_raise_before_scoring(recorded: list) -> None:
    with pytest.raises(ValueError, match="row 1: missing field 'reward'"):
        score_rows(["a", "b"], [{"reward": "rec"}, {}])
    with pytest.raises(ValueError, match=r"row 0: reward\[0\].weight must be a finite number"):
        score_rows(["a"], [{"reward": [{"name": "rec", "weight": float("nan")}]}])
    with pytest.raises(ValueError, match="duplicate"):
        parse_reward_field([{"name": "rec"}, {"name": "rec"}])
    with pytest.raises(ValueError, match="settings\\['rec'\\] must be a mapping"):
        score_rows(["a"], [{"reward": "rec"}], {"rec": 3})
    with pytest.raises(KeyError, match="unknown reward 'nope'"):
        score_rows(["a"], [{"reward": "nope"}])
    with pytest.raises(KeyError, match="not allowed"):
        score_rows(["a"], [{"reward": "rec"}], resolve=lambda name: (_ for _ in ()).throw(KeyError("not allowed")))
    assert recorded == []


def test_composite_result_round_trip_and_invariants() -> None:
    result = CompositeResult(2.0, "ok", "", {"a": RewardResult.ok(1.0), "b": RewardResult.timeout("slow")})
    assert CompositeResult.from_dict(result.to_dict()) == result
    with pytest.raises(ValueError):
        CompositeResult(0.0, "error", "a failure never carries a score")
    with pytest.raises(ValueError):
        CompositeResult(None, "ok")
