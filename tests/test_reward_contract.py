"""The reward contract, checked on every reward this installation can name (`list_rewards()`).

For each reward: a small multilingual batch with columns built from what the reward declares
returns exactly one RewardResult per sample without raising (a reward whose environment is
missing, like COMET here, may answer status `error` with a reason); an empty batch gives an
empty list; a row with missing cells and an unknown extra column do not make the reward raise.
Also: names are unique across built-ins and plugins, descriptions are non-empty, and no reward
declares a column that would clash with the row's `reward` field.

Cell values for column names this file does not know are plain strings; a reward should then
answer `error`/`not_applicable` per sample rather than raise. Add a column here when a new
reward introduces one.
"""

from __future__ import annotations

from collections import Counter
from importlib.metadata import entry_points
from typing import Any

import pytest

from rewards import registry
from rewards.base import RewardResult
from rewards.compose import REWARD_FIELD
from rewards.registry import ENTRY_POINT_GROUP, list_rewards

COMPLETIONS = ["42", "The answer is $\\boxed{\\frac{1}{2}}$.", "Hallo Welt, wie geht es dir?", ""]
CELLS: dict[str, list[Any]] = {
    "answer": ["42", "\\frac{1}{2}", "Hallo Welt", "7"],
    "reference": ["Hallo Welt", ["Bonjour le monde", "Salut le monde"], "Hallo Welt, wie geht es dir?", "Привет"],
    "src": ["Hello world", "Hello world", "Hello world, how are you?", "こんにちは"],
    "tgt_lang": ["de", "fr", "de", "ru"],
    "src_lang": ["en", "en", "en", "ja"],
    "prompt": ["What is 6*7?", "Half of one?", "Translate to German: Hello world", "Say hi"],
    "tests": ["assert True", "assert 1 == 1", "", "assert False"],
    "constraints": [
        [{"type": "keywords:existence", "keywords": ["42"]}],
        [],
        "not a list",
        [{"type": "no_such_check"}],
    ],
}
REWARDS = list_rewards()
NAMES = sorted(REWARDS)


def columns_for(name: str, n: int = len(COMPLETIONS), missing_last: bool = False) -> dict[str, list[Any]]:
    spec = REWARDS[name]
    columns = {c: list(CELLS.get(c, [f"{c} value"] * 4))[:n] for c in (*spec.columns, *spec.optional_columns)}
    if missing_last:
        for values in columns.values():
            values[-1] = None
    return columns


def check(name: str, results: list[RewardResult], n: int) -> None:
    assert len(results) == n
    for i, r in enumerate(results):
        assert isinstance(r, RewardResult), f"{name}: sample {i} is {r!r}"
        assert r.status == "ok" or r.reason, f"{name}: sample {i} has status {r.status} without a reason"
        assert f"reward {name!r} raised" not in r.reason, f"{name} raised on a sensible batch: {r.reason}"
        assert "results for" not in r.reason, f"{name} broke the one-result-per-sample contract: {r.reason}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", NAMES)
def test_one_result_per_sample_without_raising(name: str) -> None:
    spec = REWARDS[name]
    raw = spec.fn(list(COMPLETIONS), **columns_for(name))  # direct call: the reward itself must not raise
    assert len(raw) == len(COMPLETIONS)
    check(name, registry.score(spec, COMPLETIONS, columns_for(name)), len(COMPLETIONS))
    assert registry.score(spec, [], columns_for(name, n=0)) == []


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", NAMES)
def test_missing_cells_and_unknown_columns_do_not_raise(name: str) -> None:
    columns = {**columns_for(name, missing_last=True), "rlsys_unknown_column": ["?"] * len(COMPLETIONS)}
    check(name, registry.score(REWARDS[name], COMPLETIONS, columns), len(COMPLETIONS))


def test_simple_rewards_score_the_batch() -> None:
    results = registry.score(REWARDS["exact_match"], COMPLETIONS, columns_for("exact_match"))
    assert [r.score for r in results] == [1.0, 0.0, 0.0, 0.0]


def test_names_are_unique_and_described() -> None:
    plugin_names = [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)]
    duplicated = [n for n, k in Counter(plugin_names).items() if k > 1]
    assert not duplicated, f"several plugins publish {duplicated}"
    shadowing = sorted(set(plugin_names) & set(registry._REGISTRY))
    assert not shadowing, f"plugins {shadowing} have the names of rewards registered in-process"
    for name, spec in REWARDS.items():
        assert spec.description.strip(), f"reward {name!r} has no description"
        assert name in plugin_names or spec.name == name, f"{name!r} is registered under {spec.name!r}"
        declared = (*spec.columns, *spec.optional_columns)
        assert REWARD_FIELD not in declared, f"reward {name!r} declares a column named 'reward'"
        assert len(set(declared)) == len(declared), f"reward {name!r} declares a column twice: {declared}"
