"""Call-based tests: one sandboxed run per sample calls the function, the host judges the values.

Why on the host: a verdict computed in the process the program controls can be forged (an
object equal to everything passes `assert f(3) == 9`; a program can walk frames to read the
expected value). Here the sandbox receives only the function name and arguments
(rewards/call_harness.py runs there); each return value comes back as strict JSON text on a
channel separate from the program's output, and `same()` compares it with the expected value,
which never entered the sandbox. A program that forges the channel can only claim a value,
which is no better than returning it.

Equality is exact and type-aware: None, bool, str, list and dict must match in type and
content (True is not 1, "1" is not 1, a dict's keys must match), tuples compare as lists.
Numbers: two ints must be equal; if either side is a float, |got - expected| <= 1e-9 *
max(|got|, |expected|, 1) (a relative tolerance of 1e-9 with an absolute floor of 1e-9), or the
test's own tolerance from `abs(f(x) - y) < tol`. NaN and infinities never match (they are not
JSON). APPS/TACO compatibility: an expected value written as a one-element list `[v]` also
accepts `v`, as their own checkers do.

Timing: every call gets `timeout_s` (a timer inside the harness); the whole run gets
`timeout_s * calls + 1` s of wall clock (the sandbox's hard limit, which a program that blocks
the timer cannot escape). Calls without a result when the run ends fail, as timeouts if the
run hit its wall clock.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

from rewards.code_tests import Call
from rewards.sandbox import BOX, Job, Limits, RunResult

HARNESS = (Path(__file__).with_name("call_harness.py")).read_bytes()
REL_TOL = 1e-9
ABS_TOL = 1e-9
_SHOW = 60
Verdict = tuple[bool, bool, str]  # (passed, timed_out, why it failed)


def calls_job(python: str, source: str, calls: list[Call], limits: Limits) -> tuple[Job, str]:
    """The sandboxed run for a sample's calls, and the nonce its result lines start with."""
    nonce = secrets.token_hex(16)
    spec = {"timeout_s": limits.timeout_s, "calls": [{"fn": c.fn, "args": c.args} for c in calls]}
    files = {
        f"{BOX}/main.py": source.encode(),
        f"{BOX}/harness.py": HARNESS,
        f"{BOX}/calls.json": json.dumps(spec).encode(),
    }
    run_limits = replace(limits, timeout_s=limits.timeout_s * len(calls) + 1.0)
    argv = [python, "-I", f"{BOX}/harness.py", f"{BOX}/main.py", f"{BOX}/calls.json", nonce]
    return Job(argv, b"", files, run_limits), nonce


def judge_calls(run: RunResult, calls: list[Call], nonce: str) -> list[Verdict]:
    """One verdict per call from the run's result lines; anything unreadable fails, never passes."""
    reported, problem = _read_channel(run.stdout, nonce, len(calls))
    if problem:
        return [(False, False, problem)] * len(calls)
    if -1 in reported:
        kind, payload = reported[-1]
        why = f"the program failed before any call: {payload or kind}"
        return [(False, False, why)] * len(calls)
    missing = _why_missing(run)
    return [_verdict(call, reported.get(i), missing) for i, call in enumerate(calls)]


def _read_channel(stdout: bytes, nonce: str, n: int) -> tuple[dict[int, tuple[str, str]], str]:
    reported: dict[int, tuple[str, str]] = {}
    lines = stdout.split(b"\n")
    for raw in lines[:-1]:  # the part after the last newline is an unfinished line (a killed run)
        parts = raw.decode("utf-8", "replace").split(" ", 3)
        if len(parts) < 3 or parts[0] != nonce or not parts[1].lstrip("-").isdigit():
            return {}, "result channel holds a line the harness did not write"
        index = int(parts[1])
        if index in reported or not -1 <= index < n:
            return {}, f"result channel reports call {index} twice or out of range"
        reported[index] = (parts[2], parts[3] if len(parts) == 4 else "")
    return reported, ""


def _why_missing(run: RunResult) -> tuple[bool, str]:
    if run.timed_out:
        return True, f"no result: the run hit its wall clock ({run.killed.replace('_', ' ')})"
    if run.killed:
        return False, f"no result: run killed ({run.killed.replace('_', ' ')})"
    return False, f"no result: the program ended the run (exit code {run.exit_code}) before this call returned"


def _verdict(call: Call, reported: tuple[str, str] | None, missing: tuple[bool, str]) -> Verdict:
    if reported is None:
        return False, missing[0], missing[1]
    kind, payload = reported
    if kind == "timeout":
        return False, True, "call timed out"
    if kind == "raised":
        return False, False, f"call raised {payload[:_SHOW]}"
    if kind != "ok":
        return False, False, f"unknown result kind {kind[:_SHOW]!r}"
    try:
        got = json.loads(payload)
    except (ValueError, RecursionError):
        return False, False, "returned value is not readable JSON"
    if same(got, call.expected, call.abs_tol) or _unwrapped(got, call):
        return True, False, ""
    return False, False, f"returned {_short(payload)}, expected {_short(json.dumps(call.expected))}"


def _unwrapped(got: Any, call: Call) -> bool:
    exp = call.expected
    return type(exp) is list and len(exp) == 1 and same(got, exp[0], call.abs_tol)


def same(got: Any, expected: Any, abs_tol: float | None = None) -> bool:
    """Exact, type-aware equality of two plain JSON values (see the module docstring for numbers)."""
    if expected is None or type(expected) in (bool, str):
        return type(got) is type(expected) and got == expected
    if type(expected) in (int, float):
        return type(got) in (int, float) and _close(got, expected, abs_tol)
    if type(expected) is list:
        return (
            type(got) is list
            and len(got) == len(expected)
            and all(same(g, e, abs_tol) for g, e in zip(got, expected, strict=True))
        )
    if type(expected) is dict:
        return (
            type(got) is dict
            and got.keys() == expected.keys()
            and all(same(got[k], v, abs_tol) for k, v in expected.items())
        )
    return False


def _close(got: int | float, expected: int | float, abs_tol: float | None) -> bool:
    try:
        if abs_tol is not None:
            return math.isfinite(got) and abs(got - expected) < abs_tol
        if type(got) is int and type(expected) is int:
            return got == expected
        return math.isfinite(got) and abs(got - expected) <= max(REL_TOL * max(abs(got), abs(expected)), ABS_TOL)
    except OverflowError:  # an int too large for a float
        return False


def _short(text: str) -> str:
    return text if len(text) <= _SHOW else text[:_SHOW] + "..."
