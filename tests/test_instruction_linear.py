"""Linear-time rewrites of IFEval's quadratic regexes give the same results, and hostile
completions (deep JSON nesting) fail a check instead of raising. Speed itself is measured in
benchmarks/rewards.py (the 32 KB row), not asserted here."""

from __future__ import annotations

import random
import re

import pytest

from rewards.instructions import check_constraints
from rewards.instructions.checks import angle_titles, count_placeholders


def _random_texts(alphabet: str, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(n)]


def test_count_placeholders_equals_ifevals_regex():
    for text in _random_texts("[]a \n\r", 5000, seed=0):
        assert count_placeholders(text) == len(re.findall(r"\[.*?\]", text)), repr(text)


def test_angle_titles_equal_ifevals_regex():
    for text in _random_texts("<>a \n", 5000, seed=1):
        assert angle_titles(text) == re.findall(r"<<[^\n]+>>", text), repr(text)


@pytest.mark.parametrize("text", ["[" * 20000, "{" * 20000, '{"a":' * 5000])
def test_deeply_nested_json_fails_the_check_instead_of_raising(text):
    assert check_constraints(text, [{"type": "detectable_format:json_format"}]) == [False]
