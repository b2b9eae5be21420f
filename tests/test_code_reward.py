"""The `code` reward end to end through the registry, with the real bubblewrap sandbox.

Parsing and extraction tests need no sandbox; the rest skip where it cannot start unless
RLSYS_REQUIRE_SANDBOX=1 (set in CI).
"""

from __future__ import annotations

import json
import logging
import os
import shutil

import pytest

from rewards.base import RewardResult
from rewards.code import Case, extract_code, parse_tests
from rewards.code_tests import Call
from rewards.registry import get_reward, score
from rewards.sandbox import Sandbox, SandboxUnavailable

ADD_IO = {"inputs": ["1 2\n", "3 4\n", "10 -3\n"], "outputs": ["3\n", "7", "7\n"]}
ADD_ASSERTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(-1, 1) == 0"]


def fenced(body: str, tag: str = "python") -> str:
    return f"Here is my solution.\n```{tag}\n{body}\n```\nDone."


@pytest.fixture(scope="module")
def run_code():
    try:
        Sandbox().check()
    except SandboxUnavailable as exc:
        if os.environ.get("RLSYS_REQUIRE_SANDBOX") == "1":
            raise
        pytest.skip(str(exc))
    spec = get_reward("code")

    def run(completions, tests, language=None, **settings):
        columns = {"tests": tests}
        if language is not None:
            columns["language"] = language
        return score(spec, completions, {**columns, **settings})

    return run


def test_extract_code_takes_the_last_matching_block():
    text = "```python\nprint(1)\n```\nthen\n```py\nprint(2)\n```\n```bash\nrm -rf /\n```"
    assert extract_code(text) == "print(2)\n"
    assert extract_code("```\nx = 1\n```") == "x = 1\n"
    assert extract_code("no fences at all") is None
    assert extract_code("```python\nunclosed = True\n") is None
    assert extract_code("```cpp\nint main(){}\n```", "cpp") == "int main(){}\n"
    assert extract_code("```cpp\nint main(){}\n```", "python") is None


def test_parse_tests_formats_and_errors():
    assert parse_tests({"inputs": ["1"], "outputs": [2]}) == [Case("1", "2")]
    assert parse_tests([{"input": "a", "output": "b"}]) == [Case("a", "b")]
    assert parse_tests(json.dumps(ADD_ASSERTS))[0] == Case(call=Call("add", "[1, 2]", 3))  # judged on the host
    assert parse_tests(["assert add(1, 2) > 2"]) == [Case(check="assert add(1, 2) > 2")]  # weak mode
    assert parse_tests({"fn_name": "f", "inputs": [[1, [2]]], "outputs": [[3]]}) == [
        Case(call=Call("f", "[1, [2]]", [3]))
    ]
    for bad, message in [
        ({"inputs": ["1"], "outputs": []}, "1 inputs but 0 outputs"),
        ({"inputs": ["1"]}, "lists 'inputs' and 'outputs'"),
        ({"fn_name": "f", "inputs": [], "outputs": []}, "tests is empty"),
        ("{not json", "not valid JSON"),
        ([], "empty"),
        (42, "got int"),
        ([{"input": "1"}], "tests\\[0\\] needs keys"),
        ({"inputs": [[1]], "outputs": ["1"]}, "inputs\\[0\\] must be a string"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_tests(bad)


def test_registered_with_its_columns():
    spec = get_reward("code")
    assert spec.columns == ("tests",) and spec.optional_columns == ("language",)


def test_stdin_stdout_and_asserts(run_code):
    completions = [
        fenced("a, b = map(int, input().split())\nprint(a + b)"),
        fenced("a, b = map(int, input().split())\nprint(a * b)"),
        fenced("def add(a, b):\n    return a + b"),
        fenced("def add(a, b):\n    return a + b if a > 0 else 99"),
        "I think the answer is to add them.",
    ]
    tests = [ADD_IO, ADD_IO, ADD_ASSERTS, json.dumps(ADD_ASSERTS), ADD_ASSERTS]
    results = run_code(completions, tests)
    assert results[0] == RewardResult.ok(1.0, "3/3 tests passed")
    assert results[1].score == 0.0 and "test 0: wrong output" in results[1].reason
    assert results[2] == RewardResult.ok(1.0, "3/3 tests passed")
    assert results[3].score == pytest.approx(2 / 3) and "test 2: returned 99, expected 0" in results[3].reason
    assert results[4] == RewardResult.ok(0.0, "no code block")


def test_all_or_nothing_and_bad_rows(run_code):
    completions = [fenced("def add(a, b):\n    return a + b if a > 0 else 99")] * 2 + ["x", "x"]
    tests = [ADD_ASSERTS, ADD_ASSERTS[:2], {"inputs": ["1"], "outputs": []}, ADD_IO]
    results = run_code(completions, tests, language=[None, "python", None, "rust"], all_or_nothing=True)
    assert results[0].score == 0.0 and results[0].reason.startswith("2/3 tests passed")
    assert results[1] == RewardResult.ok(1.0, "2/2 tests passed")
    assert results[2].status == "error" and results[2].reason == "row 2: tests has 1 inputs but 0 outputs"
    assert results[3].status == "error" and "row 3: language 'rust'" in results[3].reason


def test_exit_early_does_not_pass_asserts(run_code):
    hacks = ["import os\nos._exit(0)", "import sys\nsys.exit(0)", "raise SystemExit"]
    results = run_code([fenced(h) for h in hacks], [["assert add(1, 2) == 3"]] * 3)
    assert [r.score for r in results] == [0.0, 0.0, 0.0], results


def test_timeouts(run_code):
    loop = fenced("import sys\nif sys.stdin.readline().strip() == 'hang':\n    while True: pass\nprint('ok')")
    tests = [{"inputs": ["hang", "go"], "outputs": ["ok", "ok"]}, {"inputs": ["hang", "hang"], "outputs": ["", ""]}]
    results = run_code([loop, loop], tests, timeout_s=1.0)
    assert results[0].score == 0.5 and "test 0: timeout" in results[0].reason
    assert results[1].status == "timeout" and results[1].score is None


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_cpp(run_code):
    good = "#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }"
    wrong = good.replace("a + b", "a - b")
    results = run_code(
        [fenced(good, "cpp"), fenced(wrong, "c++"), fenced("int main() { oops }", "cpp"), fenced(good, "cpp")],
        [ADD_IO, ADD_IO, ADD_IO, ADD_ASSERTS],
        language=["cpp"] * 4,
    )
    assert results[0] == RewardResult.ok(1.0, "3/3 tests passed")
    assert results[1].score == 0.0
    assert results[2].score == 0.0 and results[2].reason.startswith("compile error:")
    assert results[3].status == "error" and "need language python" in results[3].reason


def test_fails_closed_without_bwrap(monkeypatch):
    monkeypatch.setenv("RLSYS_BWRAP", "/nonexistent/bwrap")
    monkeypatch.delenv("RLSYS_UNSAFE_NO_SANDBOX", raising=False)
    results = score(get_reward("code"), [fenced("print(3)")] * 2, {"tests": [ADD_IO, ADD_IO]})
    assert [r.status for r in results] == ["error", "error"]
    assert "sandbox unavailable" in results[0].reason and "apt-get install -y bubblewrap" in results[0].reason


def test_unsafe_opt_out_warns_every_batch(monkeypatch, caplog):
    monkeypatch.setenv("RLSYS_BWRAP", "/nonexistent/bwrap")
    spec = get_reward("code")
    completion = [fenced("a, b = map(int, input().split())\nprint(a + b)")]
    with caplog.at_level(logging.WARNING, logger="rewards.sandbox"):
        first = score(spec, completion, {"tests": [ADD_IO], "unsafe_no_sandbox": True})
        monkeypatch.setenv("RLSYS_UNSAFE_NO_SANDBOX", "1")
        second = score(spec, completion, {"tests": [ADD_IO]})
    assert first == second == [RewardResult.ok(1.0, "3/3 tests passed")]
    assert sum("UNSAFE" in r.message for r in caplog.records if r.levelno == logging.WARNING) == 2


@pytest.fixture(scope="module", autouse=True)
def no_stray_sandbox_processes():
    yield
    stray = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and 60000 <= entry.stat().st_uid < 60256:
                stray.append(entry.name)
        except FileNotFoundError:
            continue
    assert stray == [], f"processes of sandbox uids outlived the tests: {stray}"
