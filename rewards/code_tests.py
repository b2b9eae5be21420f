"""Read a row's `tests` for the code reward, and turn what can be turned into call-based tests.

Formats (a JSON string of any of them works too):
- stdin/stdout: `{"inputs": [...], "outputs": [...]}` or `[{"input", "output"}, ...]`;
- call-based (APPS / TACO): `{"fn_name": "add", "inputs": [[1, 2], ...], "outputs": [3, ...]}`:
  each input is the argument list, each output the expected return value (as JSON). A function
  missing from the program is looked up as a method of `class Solution` (LeetCode style);
- assert strings: `["assert add(1, 2) == 3", ...]`;
- HumanEval: `{"check": "<the dataset's test code, defining check(candidate)>", "entry_point": "add"}`.

Strong and weak tests. A call-based test is judged on the host: the sandbox gets the function
name and the arguments, returns the value as strict JSON, and the host compares it with the
expected value, which never enters the sandbox (rewards/code_calls.py). Assert strings of the
shapes `f(<literals>) == <literal>` (either side), `f(...) is True|False|None` and
`abs(f(...) - <number>) < <number>` become call-based tests. Any other assert string stays a
weak test: it runs inside the sandbox after the solution, so the expected values are inside
too and a program can reach them by introspection (frames, gc, reading its own harness) or
defeat `==` with an object equal to everything. Weak tests are kept for what cannot be
expressed as calls; prefer call-based data for RL.

HumanEval rows: every statement of `check`'s body that is one of the assert shapes above
becomes a call-based test (`candidate` is the entry point); if anything else is left (loops,
helpers, `math.fabs(...)` checks), the whole `check(entry_point)` also runs once as a weak test.
A HumanEval row scores 1 only when all of them pass (HumanEval's own pass/fail), so a program
that fools the weak run still fails the calls. A row whose check has no convertible assert is
only as strong as the weak mode: see docs/reliability.md for how many HumanEval problems are
fully call-based.

Not covered: keyword arguments and non-literal arguments in assert strings (weak mode); tests
that compare printed output of a function (use stdin/stdout); C++ call-based tests.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    """One call-based test: `fn(*args)` must return `expected` (within `abs_tol` for numbers, if set)."""

    fn: str
    args: str  # a Python literal of the argument list, evaluated inside the sandbox
    expected: Any  # plain JSON value; never sent into the sandbox
    abs_tol: float | None = None


@dataclass(frozen=True)
class Case:
    """One test: stdin + expected stdout, a weak `check` (code run after the solution), or a `call`."""

    stdin: str = ""
    expected: str = ""
    check: str | None = None
    call: Call | None = None


@dataclass(frozen=True)
class Suite:
    """A row's tests; `all_or_nothing` for HumanEval rows (one problem passes or fails)."""

    cases: list[Case] = field(default_factory=list)
    all_or_nothing: bool = False


def read_tests(raw: Any) -> Suite:
    """Turn a row's `tests` value into a Suite; ValueError says what is wrong with it."""
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"tests is a string but not valid JSON ({exc})") from None
    if isinstance(raw, dict) and "check" in raw:
        suite = humaneval_suite(raw.get("check"), raw.get("entry_point"))
    elif isinstance(raw, dict) and "fn_name" in raw:
        suite = Suite(call_cases(raw))
    elif isinstance(raw, dict):
        suite = Suite(io_cases(raw))
    elif isinstance(raw, list | tuple) and all(isinstance(t, str) for t in raw):
        suite = Suite([assert_case(t) for t in raw if t.strip()])
    elif isinstance(raw, list | tuple) and all(isinstance(t, dict) for t in raw):
        for i, t in enumerate(raw):
            if "input" not in t or "output" not in t:
                raise ValueError(f"tests[{i}] needs keys 'input' and 'output', has {sorted(t)}")
        suite = Suite(io_cases({"inputs": [t["input"] for t in raw], "outputs": [t["output"] for t in raw]}))
    else:
        raise ValueError(
            "tests must be {'inputs': [...], 'outputs': [...]}, a list of {'input', 'output'}, "
            "{'fn_name', 'inputs', 'outputs'}, a list of assert strings, {'check', 'entry_point'} (HumanEval), "
            f"or JSON of one of these; got {type(raw).__name__}"
        )
    if not suite.cases:
        raise ValueError("tests is empty")
    return suite


def parse_tests(raw: Any) -> list[Case]:
    """The cases of `read_tests(raw)`."""
    return read_tests(raw).cases


def io_cases(raw: dict) -> list[Case]:
    inputs, outputs = _lists(raw)
    for name, values in (("inputs", inputs), ("outputs", outputs)):
        for i, v in enumerate(values):
            if not isinstance(v, str | int | float) or isinstance(v, bool):
                raise ValueError(f"tests {name}[{i}] must be a string, got {type(v).__name__}")
    return [Case(str(i), str(o)) for i, o in zip(inputs, outputs, strict=True)]


def call_cases(raw: dict) -> list[Case]:
    fn = raw.get("fn_name")
    if not isinstance(fn, str) or not fn.isidentifier():
        raise ValueError(f"tests fn_name must be a function name, got {fn!r}")
    inputs, outputs = _lists(raw)
    cases = []
    for i, (args, expected) in enumerate(zip(inputs, outputs, strict=True)):
        if not isinstance(args, list):
            raise ValueError(f"tests inputs[{i}] must be the list of arguments, got {type(args).__name__}")
        for what, value in (("inputs", args), ("outputs", expected)):
            problem = json_problem(value)
            if problem:
                raise ValueError(f"tests {what}[{i}]: {problem}")
        cases.append(Case(call=Call(fn, repr(args), plain(expected))))
    return cases


def _lists(raw: dict) -> tuple[list, list]:
    inputs, outputs = raw.get("inputs"), raw.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise ValueError("tests needs lists 'inputs' and 'outputs'")
    if len(inputs) != len(outputs):
        raise ValueError(f"tests has {len(inputs)} inputs but {len(outputs)} outputs")
    return inputs, outputs


def assert_case(source: str) -> Case:
    """A call-based Case when the assert has a shape we can judge on the host, else a weak one."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return Case(check=source)  # the sandboxed run reports the syntax error as a failure
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
        call = assert_to_call(tree.body[0], {})
        if call is not None:
            return Case(call=call)
    return Case(check=source)


def humaneval_suite(test: Any, entry_point: Any) -> Suite:
    if not isinstance(test, str) or not isinstance(entry_point, str) or not entry_point.isidentifier():
        raise ValueError("HumanEval tests need 'check' (the test code) and 'entry_point' (a function name)")
    try:
        tree = ast.parse(test)
    except SyntaxError as exc:
        raise ValueError(f"tests check is not valid Python: {exc}") from None
    check = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
    if check is None or len(check.args.args) != 1:
        raise ValueError("tests check must define `def check(candidate):`")
    alias = {check.args.args[0].arg: entry_point}
    calls, rest = [], False
    for stmt in check.body:
        if _trivial(stmt):
            continue
        call = assert_to_call(stmt, alias) if isinstance(stmt, ast.Assert) else None
        if call is None:
            rest = True
        else:
            calls.append(Case(call=call))
    candidate = f"globals()[{entry_point!r}] if {entry_point!r} in globals() else Solution().{entry_point}"
    weak = [Case(check=f"{test}\n\ncheck({candidate})\n")] if rest or not calls else []
    return Suite(calls + weak, all_or_nothing=True)


def _trivial(stmt: ast.stmt) -> bool:
    """`pass`, a docstring, `assert True`: nothing to test."""
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return True
    return isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Constant) and stmt.test.value is True


def assert_to_call(node: ast.Assert, alias: dict[str, str]) -> Call | None:
    """`f(lits) == lit`, `lit == f(lits)`, `f(lits) is True|False|None`, `abs(f(lits) - num) < tol`; else None."""
    test = node.test
    if not isinstance(test, ast.Compare) or len(test.ops) != 1:
        return None
    op, left, right = test.ops[0], test.left, test.comparators[0]
    if isinstance(op, ast.Eq):
        if not isinstance(left, ast.Call) and isinstance(right, ast.Call):
            left, right = right, left
        return _call(left, right, alias, None)
    if isinstance(op, ast.Is):
        if isinstance(right, ast.Constant) and right.value in (True, False, None) and type(right.value) is not int:
            return _call(left, right, alias, None)
        return None
    if isinstance(op, ast.Lt | ast.LtE):
        tol = _literal(right)
        diff = _abs_difference(left)
        if diff is None or type(tol) not in (int, float) or not 0 <= tol < math.inf:
            return None
        return _call(diff[0], diff[1], alias, float(tol))
    return None


def _abs_difference(node: ast.expr) -> tuple[ast.expr, ast.expr] | None:
    """(call, expected) from `abs(call - expected)` or `abs(expected - call)`."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "abs"
        and len(node.args) == 1
        and not node.keywords
    ):
        return None
    inner = node.args[0]
    if not (isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Sub)):
        return None
    if isinstance(inner.left, ast.Call) and not isinstance(inner.right, ast.Call):
        return inner.left, inner.right
    if isinstance(inner.right, ast.Call) and not isinstance(inner.left, ast.Call):
        return inner.right, inner.left
    return None


def _call(call: ast.expr, expected_node: ast.expr, alias: dict[str, str], abs_tol: float | None) -> Call | None:
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.keywords:
        return None
    if any(isinstance(a, ast.Starred) for a in call.args):
        return None
    _missing = object()
    args = [_literal(a, _missing) for a in call.args]
    expected = _literal(expected_node, _missing)
    if any(a is _missing for a in args) or expected is _missing or json_problem(expected):
        return None
    if abs_tol is not None and type(expected) not in (int, float):
        return None
    fn = alias.get(call.func.id, call.func.id)
    return Call(fn, ast.unparse(ast.List(elts=call.args, ctx=ast.Load())), plain(expected), abs_tol)


def _literal(node: ast.expr, default: Any = None) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return default


def json_problem(value: Any, depth: int = 0) -> str:
    """'' if `value` is a plain JSON value (tuples allowed), else what is not."""
    if depth > 100:
        return "nested deeper than 100 levels"
    if value is None or type(value) in (bool, int, str):
        return ""
    if type(value) is float:
        return "" if math.isfinite(value) else f"{value!r} is not a finite number"
    if type(value) in (list, tuple):
        return next((p for p in (json_problem(v, depth + 1) for v in value) if p), "")
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            return "dict keys must be strings"
        return next((p for p in (json_problem(v, depth + 1) for v in value.values()) if p), "")
    return f"a {type(value).__name__} is not a JSON value"


def plain(value: Any) -> Any:
    """Tuples as lists (JSON has no tuples; APPS compares tuples as lists too)."""
    if type(value) in (list, tuple):
        return [plain(v) for v in value]
    if type(value) is dict:
        return {k: plain(v) for k, v in value.items()}
    return value
