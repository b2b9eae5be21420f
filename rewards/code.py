"""Code-execution reward: run the completion's last code block against the row's tests.

Every program runs in `rewards.sandbox` (bubblewrap, one unprivileged uid per slot, rlimits,
wall-clock kill); read that module for the threat model. If the sandbox is unavailable the
reward fails closed: every sample gets status `error` with the reason and how to fix it.

Row columns:
- `tests`: stdin/stdout pairs, call-based tests (`{"fn_name", "inputs", "outputs"}` as in APPS and
  TACO), assert strings, or a HumanEval `{"check", "entry_point"}`; see rewards/code_tests.py for
  the formats and which of them are judged outside the program's reach. Bad data is status
  `error` naming the row and the problem.
- `language` (optional): "python" (default) or "cpp" (compiled with g++ -std=c++17 -O2 inside
  the sandbox, stdin/stdout tests only).

How a verdict is reached, strongest first:
- call-based (and assert strings of a simple shape, converted to calls): the sandbox gets only
  the function name and arguments; return values come back as strict JSON and the host compares
  them with the expected values, which never enter the sandbox (rewards/code_calls.py). An
  object equal to everything, a subclass of int/str/list with its own `__eq__`, fake output,
  an early exit or introspection of the harness all fail. All calls of a sample share one run
  (each call has `timeout_s`).
- stdin/stdout: the run must exit 0 and its stdout must equal the expected text after
  stripping trailing whitespace from each line and trailing blank lines. The expected text stays
  on the host.
- weak (assert strings of other shapes, the rest of a HumanEval check): the solution runs as
  module `solution` (so an `if __name__ == "__main__"` block does not run), then the test code
  in the same namespace; the run passes if it reaches a per-run random marker written after the
  test, so `sys.exit(0)` / `os._exit(0)` fail. The expected values are inside the sandbox here:
  a program can read them by introspection or defeat `==`. Documented as weak; not for RL data
  where call-based tests can be had.

Choices:
- The code is the last fenced block tagged for the language (```python / ```py / ```cpp ...)
  or untagged. A completion without one scores 0.0 with status ok and reason "no code block":
  not writing code is the policy's failure, not the reward's. A compile error scores 0.0 too.
- Score is the fraction of tests passed, or 1/0 with `all_or_nothing=True` (always for HumanEval
  rows). If every test timed out (or the compile did), the status is `timeout`.
- Programs use /usr/bin/python3 and its standard library, not the trainer's virtualenv.

Settings (keyword-only; `rewards.settings.code.<key>`): all of them are the operator's (the job
config, or the reward server's --settings/--set) except `all_or_nothing`, the one a request may
set: timeout_s, memory_mb, max_output_bytes, concurrency, compile_timeout_s, unsafe_no_sandbox.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from rewards.base import RewardResult
from rewards.code_calls import Verdict, calls_job, judge_calls
from rewards.code_tests import Case, parse_tests, read_tests
from rewards.registry import reward
from rewards.sandbox import BOX, Job, Limits, RunResult, Sandbox, SandboxUnavailable
from rewards.settings import Setting

__all__ = ["Case", "code", "extract_code", "parse_tests"]

PYTHON = "/usr/bin/python3"
GXX = "/usr/bin/g++"
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)
_TAGS = {"python": {"python", "py", "python3", ""}, "cpp": {"cpp", "c++", "cc", "cxx", ""}}
_LANGUAGES = {"python": "python", "py": "python", "python3": "python", "cpp": "cpp", "c++": "cpp"}
_HARNESS = """\
import os as _os, sys as _sys
_write, _exit = _os.write, _os._exit
def _run():
    with open(_sys.argv[1], encoding="utf-8") as f:
        source = f.read()
    ns = {"__name__": "solution", "__builtins__": __builtins__}
    exec(compile(source, "solution.py", "exec"), ns)
    exec(compile(%(test)r, "<test>", "exec"), ns)
try:
    _run()
    _sys.stdout.flush()
except BaseException:
    import traceback
    traceback.print_exc()
    _sys.stderr.flush()
    _exit(1)
_write(1, %(marker)r)
_exit(0)
"""


@dataclass
class _Sample:
    row: int
    language: str
    source: str
    cases: list[Case]
    all_or_nothing: bool = False
    binary: bytes | None = None


@dataclass
class _Unit:
    """One sandboxed run and how to read the verdicts of the cases it decides."""

    job: Job
    cases: list[int]
    judge: Callable[[RunResult], list[Verdict]] = field(repr=False)


@reward(
    "code",
    columns=("tests",),
    optional=("language",),
    description="Fraction of tests the completion's last code block passes in a bubblewrap sandbox.",
    request_settings={"all_or_nothing": Setting(bool)},
)
def code(
    completions: list[str],
    tests: Sequence[Any],
    language: Sequence[Any] | None = None,
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    max_output_bytes: int = 1 << 20,
    concurrency: int = 4,
    all_or_nothing: bool = False,
    compile_timeout_s: float = 30.0,
    unsafe_no_sandbox: bool | None = None,
    **_: Any,
) -> list[RewardResult]:
    """Score each completion by running its code block against its row's tests.

    >>> code(["```python\\nprint(int(input()) * 2)\\n```"], [{"inputs": ["2"], "outputs": ["4"]}])  # doctest: +SKIP
    [RewardResult(score=1.0, status='ok', reason='1/1 tests passed')]
    """
    sandbox = Sandbox(concurrency=concurrency, unsafe_no_sandbox=unsafe_no_sandbox)
    try:
        sandbox.check()
    except SandboxUnavailable as exc:
        return [RewardResult.error(str(exc)) for _ in completions]
    languages = list(language) if language is not None else [None] * len(completions)
    results: list[RewardResult | None] = [None] * len(completions)
    samples: list[_Sample] = []
    for row, (completion, raw, lang) in enumerate(zip(completions, tests, languages, strict=True)):
        planned = _plan(row, completion, raw, lang)
        if isinstance(planned, RewardResult):
            results[row] = planned
        else:
            samples.append(planned)
    limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb, max_output_bytes=max_output_bytes)
    compile_limits = Limits(
        timeout_s=compile_timeout_s, memory_mb=max(memory_mb, 1024), max_output_bytes=64 << 20, file_mb=64
    )
    for sample, failed in zip(samples, _compile_cpp(sandbox, samples, compile_limits), strict=True):
        if failed is not None:
            results[sample.row] = failed
    runnable = [s for s in samples if results[s.row] is None]
    units = {s.row: _units(s, limits) for s in runnable}
    runs = iter(sandbox.map([u.job for s in runnable for u in units[s.row]]))
    for sample in runnable:
        verdicts: list[Verdict | None] = [None] * len(sample.cases)
        for unit in units[sample.row]:
            for i, verdict in zip(unit.cases, unit.judge(next(runs)), strict=True):
                verdicts[i] = verdict
        strict = all_or_nothing or sample.all_or_nothing
        results[sample.row] = _aggregate([v for v in verdicts if v is not None], strict, timeout_s)
    return [r if r is not None else RewardResult.error("internal: no result") for r in results]


def _plan(row: int, completion: str, raw: Any, lang: Any) -> _Sample | RewardResult:
    language = _LANGUAGES.get(str(lang or "python").strip().lower())
    if language is None:
        return RewardResult.error(f"row {row}: language {lang!r} is not supported (python, cpp)")
    try:
        suite = read_tests(raw)
    except ValueError as exc:
        return RewardResult.error(f"row {row}: {exc}")
    cases = suite.cases
    if language == "cpp":
        if any(c.check is not None or c.call is not None for c in cases):
            return RewardResult.error(f"row {row}: assert-style and call-based tests need language python, not cpp")
        if not os.path.exists(GXX):
            return RewardResult.error(f"row {row}: language cpp needs {GXX} (apt-get install g++)")
    source = extract_code(completion, language)
    if source is None:
        return RewardResult.ok(0.0, "no code block")
    return _Sample(row, language, source, cases, suite.all_or_nothing)


def extract_code(completion: str, language: str = "python") -> str | None:
    """The last closed fenced block tagged for `language` or untagged; None if there is none."""
    blocks = [body for tag, body in _FENCE.findall(completion) if tag.lower() in _TAGS[language]]
    return blocks[-1] if blocks else None


def _compile_cpp(sandbox: Sandbox, samples: list[_Sample], limits: Limits) -> list[RewardResult | None]:
    """Compile the C++ samples in the sandbox; the binary comes back on stdout."""
    todo = [s for s in samples if s.language == "cpp"]
    script = f'{GXX} -std=c++17 -O2 -pipe -o "$TMPDIR/a.out" "$1" && cat "$TMPDIR/a.out"'
    jobs = [
        Job(
            ["/bin/sh", "-c", script, "sh", f"{BOX}/main.cpp"],
            files={f"{BOX}/main.cpp": s.source.encode()},
            limits=limits,
        )
        for s in todo
    ]
    outcome: dict[int, RewardResult | None] = {}
    for sample, run in zip(todo, sandbox.map(jobs), strict=True):
        if run.timed_out:
            outcome[sample.row] = RewardResult.timeout(f"compile timed out ({run.killed}, {limits.timeout_s}s)")
        elif run.exit_code != 0 or run.truncated:
            outcome[sample.row] = RewardResult.ok(0.0, f"compile error: {_first_error(run.stderr)}")
        else:
            sample.binary = run.stdout
            outcome[sample.row] = None
    return [outcome.get(s.row) for s in samples]


def _units(sample: _Sample, limits: Limits) -> list[_Unit]:
    """One run per stdin or weak case; one run for all the call-based cases of the sample."""
    units: list[_Unit] = []
    calls = [i for i, c in enumerate(sample.cases) if c.call is not None]
    chosen = [c.call for c in sample.cases if c.call is not None]
    if calls:
        job, nonce = calls_job(PYTHON, sample.source, chosen, limits)
        units.append(_Unit(job, calls, partial(judge_calls, calls=chosen, nonce=nonce)))
    for i, case in enumerate(sample.cases):
        if case.call is None:
            job, marker = _job(sample, case, limits)
            units.append(_Unit(job, [i], partial(_verdicts, case=case, marker=marker)))
    return units


def _job(sample: _Sample, case: Case, limits: Limits) -> tuple[Job, bytes | None]:
    if sample.language == "cpp":
        assert sample.binary is not None
        return Job([f"{BOX}/main"], case.stdin.encode(), {f"{BOX}/main": sample.binary}, limits), None
    files = {f"{BOX}/main.py": sample.source.encode()}
    if case.check is None:
        return Job([PYTHON, "-I", f"{BOX}/main.py"], case.stdin.encode(), files, limits), None
    marker = f"\n<rlsys-pass {secrets.token_hex(16)}>".encode()
    harness = _HARNESS % {"test": case.check, "marker": marker}
    return Job([PYTHON, "-I", "-", f"{BOX}/main.py"], harness.encode(), files, limits), marker


def _verdicts(run: RunResult, *, case: Case, marker: bytes | None) -> list[Verdict]:
    """The one verdict of a stdin or weak case's own run, as `_Unit.judge` returns it."""
    return [_verdict(case, run, marker)]


def _verdict(case: Case, run: RunResult, marker: bytes | None) -> Verdict:
    """(passed, timed_out, why it failed)."""
    if run.timed_out:
        return False, True, run.killed.replace("_", " ")
    if run.killed:
        return False, False, run.killed.replace("_", " ")
    if run.exit_code != 0:
        return False, False, f"exit code {run.exit_code}: {_last_line(run.stderr)}"
    if marker is not None:
        return (True, False, "") if run.stdout.endswith(marker) else (False, False, "exited before the test ran")
    if _normalise(run.stdout.decode(errors="replace")) == _normalise(case.expected):
        return True, False, ""
    return False, False, "wrong output"


def _aggregate(verdicts: list[Verdict], all_or_nothing: bool, timeout_s: float) -> RewardResult:
    n = len(verdicts)
    if all(timed_out for _, timed_out, _ in verdicts):
        return RewardResult.timeout(f"all {n} tests timed out ({timeout_s}s each)")
    passed = sum(ok for ok, _, _ in verdicts)
    reason = f"{passed}/{n} tests passed"
    first = next((i for i, (ok, _, _) in enumerate(verdicts) if not ok), None)
    if first is not None:
        reason += f"; test {first}: {verdicts[first][2]}"
    score = float(passed == n) if all_or_nothing else passed / n
    return RewardResult.ok(score, reason)


def _normalise(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _first_error(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").splitlines()
    return next((ln[:200] for ln in lines if "error" in ln), _last_line(stderr))


def _last_line(stderr: bytes) -> str:
    lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "(no stderr)"
