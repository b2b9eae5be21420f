"""Runs inside the code sandbox (as /box/harness.py, under /usr/bin/python3): call a function, report its values.

    python3 -I /box/harness.py /box/main.py /box/calls.json NONCE

`calls.json` holds `{"timeout_s": t, "calls": [{"fn": name, "args": "<Python literal list>"}]}`:
the function names and arguments only. The expected return values never enter the sandbox;
the host compares (rewards/code_calls.py). For each call this writes one line to the result
channel: `NONCE INDEX ok <JSON>`, `NONCE INDEX raised <type>`, `NONCE INDEX timeout`, or
`NONCE -1 load <type>` when the solution itself fails to run.

The result channel is the process's original stdout; before the solution runs, fd 1 is pointed at
stderr, so `print` and `os.write(1, ...)` from the solution cannot mix with the results. The
solution runs in this process and can reach everything here by introspection (the nonce, the
channel's descriptor, the encoder): at worst it writes a line claiming a value of its choosing,
which is the same as returning that value. It never sees what the host expects.

Values are encoded strictly: None, bool, int, float (finite), str, list, tuple (as a list) and
dict with str keys, each of exactly that type; anything else (a subclass of int/str/list/dict,
an object with a custom __eq__) is reported as `raised NotJSON:<type>`. Standard library only;
not imported by rlsys.
"""

import ast
import json
import os
import signal
import sys

_MAX_DEPTH = 100


class _Timeout(BaseException):
    pass


class _NotJSON(Exception):
    pass


def _encode(value, depth=0, _type=type, _str=json.encoder.encode_basestring_ascii, _finite=float.__repr__):
    """Encode one returned value as JSON text, refusing every type but the plain ones."""
    if depth > _MAX_DEPTH:
        raise _NotJSON(f"nesting deeper than {_MAX_DEPTH}")
    t = _type(value)
    if value is None:
        return "null"
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return int.__repr__(value)  # ValueError past Python's int-to-str digit limit
    if t is float:
        text = _finite(value)
        if text in ("inf", "-inf", "nan"):
            raise _NotJSON(f"float {text}")
        return text
    if t is str:
        return _str(value)
    if t is list or t is tuple:
        return "[" + ",".join(_encode(v, depth + 1) for v in value) + "]"
    if t is dict:
        parts = []
        for k, v in dict.items(value):
            if _type(k) is not str:
                raise _NotJSON(f"dict key of type {_name(k)}")
            parts.append(_str(k) + ":" + _encode(v, depth + 1))
        return "{" + ",".join(parts) + "}"
    raise _NotJSON(_name(value))


def _name(value):
    try:
        return str(type.__dict__["__qualname__"].__get__(type(value)))[:60]
    except Exception:
        return "?"


def _on_alarm(signum, frame):
    raise _Timeout()


def main(argv, _write=os.write, _literal=ast.literal_eval, _setitimer=signal.setitimer):
    solution_path, calls_path, nonce = argv[1], argv[2], argv[3]
    channel = os.dup(1)  # not inheritable: child processes of the solution do not get it
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def emit(index, kind, payload=""):
        _write(channel, f"{nonce} {index} {kind} {payload}\n".encode("utf-8", "replace"))

    with open(calls_path, encoding="utf-8") as f:
        spec = json.load(f)
    with open(solution_path, encoding="utf-8") as f:
        source = f.read()
    timeout_s = float(spec["timeout_s"])
    signal.signal(signal.SIGALRM, _on_alarm)
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        _setitimer(signal.ITIMER_REAL, timeout_s)
        exec(compile(source, "solution.py", "exec"), namespace)
        _setitimer(signal.ITIMER_REAL, 0)
    except BaseException as exc:  # SystemExit and the alarm too: nothing was called
        _setitimer(signal.ITIMER_REAL, 0)
        emit(-1, "load", _name(exc))
        return
    instance = None
    for index, call in enumerate(spec["calls"]):
        try:
            _setitimer(signal.ITIMER_REAL, timeout_s)
            if call["fn"] in namespace:
                fn = namespace[call["fn"]]
            else:  # LeetCode style: class Solution with the method
                instance = instance if instance is not None else namespace["Solution"]()
                fn = getattr(instance, call["fn"])
            value = fn(*_literal(call["args"]))
            text = _encode(value)
            _setitimer(signal.ITIMER_REAL, 0)
        except _Timeout:
            emit(index, "timeout")
            continue
        except _NotJSON as exc:
            _setitimer(signal.ITIMER_REAL, 0)
            emit(index, "raised", "NotJSON:" + str(exc)[:80])
            continue
        except BaseException as exc:
            _setitimer(signal.ITIMER_REAL, 0)
            emit(index, "raised", _name(exc))
            continue
        emit(index, "ok", text)


if __name__ == "__main__":
    main(sys.argv)
    os._exit(0)
