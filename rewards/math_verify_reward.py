"""The `math` reward: math-verify 0.9.0 judges a completion's final answer against the gold one.

Why a process pool of our own: math-verify bounds parsing and comparison with `signal.alarm`,
which only works in a process's main thread (other threads, e.g. a threaded Ray actor's, get
`ValueError`) and
only with whole seconds (a float timeout silently returns False). SymPy can also hang in C code
where no signal is delivered. So every verification runs in a spawned worker process that
owns its main thread, with integer alarms inside (`timeout_s`) and a hard wall-clock limit
outside (`hard_timeout_s`): a worker that does not answer in time is killed and replaced, and
the sample gets status `timeout`. `concurrent.futures` cannot kill one task, hence the small
pool below (one pipe per worker, `multiprocessing.connection.wait` to multiplex).

Scoring: 1.0 when math-verify's `verify(gold, pred)` (gold first; it is not symmetric) holds,
0.0 when it does not or when the completion has no answer math-verify can extract ("no answer
found"); an unparseable or missing gold answer is status `error`, a math-verify timeout or the
hard limit is status `timeout`. Never a silent 0: math-verify is called with
`raise_on_error=True` so that its own timeouts are not turned into False.
Only the completion's last `\\boxed{}` counts when there is one (math-verify alone would join
nearby boxes, so a boxed first attempt would turn a corrected answer into a set); a list of
answers belongs in one box, `\\boxed{1, 2}`. Without a box, math-verify's own answer patterns.

Workers are plain `python -c` subprocesses talking over a socket pair, not `multiprocessing`
spawns: a spawn re-imports the caller's `__main__`, so a TRL script without an
`if __name__ == "__main__":` guard re-ran its whole training in every worker, and every sample
failed. These workers import only this module (with the caller's `sys.path`), so a script needs
no guard for the math reward.

Not covered: one batch at a time per process (concurrent callers wait on a lock; run more
processes or Ray actors to scale); answers math-verify cannot represent (free text, multiple
choice letters beyond its string match, several acceptable gold answers per row); no recycling
of long-lived workers (SymPy's caches are bounded). The file is not named `math.py`: a script
run from `rewards/` would shadow the standard library's `math` module.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from multiprocessing.connection import Connection, wait
from typing import Any

from rewards.base import RewardResult
from rewards.registry import reward

DEFAULT_TIMEOUT_S = 5
WORKER_MEMORY_BYTES = 2 << 30  # address space per worker (idle: ~65 MB): a power tower must not eat the host
STARTUP_LIMIT_S = 60.0  # a worker that is not ready by then fails the batch with an error
_SYS_PATH_ENV = "RLSYS_MATH_WORKER_SYS_PATH"
_BOOT = (  # a worker imports this module only, never the caller's __main__
    f"import json, os, sys; sys.path[:] = json.loads(os.environ.pop({_SYS_PATH_ENV!r})); "
    "from multiprocessing.connection import Connection; "
    "from rewards.math_verify_reward import _serve; "
    "_serve(Connection(int(sys.argv[1])), int(sys.argv[2]))"
)
_REASON_CHARS = 80
_MEMORY_NOTE = f"worker address-space limit {WORKER_MEMORY_BYTES >> 30} GiB"


# ---------------------------------------------------------------- worker side (runs in the pool)


@lru_cache(maxsize=1)
def _extraction_config() -> tuple[Any, ...]:
    from latex2sympy2_extended import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    normalization = NormalizationConfig(
        basic_latex=True, units=True, malformed_operators=True, nits=True, boxed="last", equations=False
    )
    latex = LatexExtractionConfig(boxed_match_priority=0, normalization_config=normalization)
    return (latex, ExprExtractionConfig())


def _wrap_gold(answer: str) -> str:
    """Gold answers are bare expressions ('1/2', '[1, 2)'); math-verify finds them reliably in $...$."""
    text = answer.strip()
    if "\\boxed" in text or "$" in text or "\\(" in text or "\\[" in text:
        return text
    return f"${text}$"


@lru_cache(maxsize=4096)
def _parse_gold(answer: str, timeout_s: int) -> tuple[Any, ...]:
    from math_verify import parse

    return tuple(parse(_wrap_gold(answer), list(_extraction_config()), parsing_timeout=timeout_s, raise_on_error=True))


def _final_part(completion: str) -> str:
    """From the last `\\boxed` on, so that an earlier boxed attempt is never joined with it."""
    start = max(completion.rfind("\\boxed"), completion.rfind("\\fbox"))
    return completion[start:] if start >= 0 else completion


def _short(text: str) -> str:
    return repr(text if len(text) <= _REASON_CHARS else text[:_REASON_CHARS] + "...")


def verify_answer(answer: str, completion: str, *, timeout_s: int = DEFAULT_TIMEOUT_S) -> RewardResult:
    """Judge one completion in this process. It must be a main thread (math-verify uses signal.alarm);
    the reward runs it in the pool, call it directly only for tests and benchmarks."""
    from math_verify import parse, verify
    from math_verify.errors import TimeoutException

    try:
        gold = _parse_gold(answer, timeout_s)
    except TimeoutException:
        return RewardResult.timeout(f"parsing gold answer {_short(answer)} exceeded timeout_s={timeout_s}")
    except Exception as exc:
        return RewardResult.error(
            f"column 'answer': math-verify failed on gold {_short(answer)}: {type(exc).__name__}: {exc}"
        )
    if not any(not isinstance(g, str) for g in gold):  # only a raw-string fallback: malformed LaTeX
        return RewardResult.error(f"column 'answer': math-verify cannot parse gold answer {_short(answer)}")
    try:
        pred = parse(
            _final_part(completion), list(_extraction_config()), parsing_timeout=timeout_s, raise_on_error=True
        )
    except TimeoutException:
        return RewardResult.timeout(f"parsing the completion exceeded timeout_s={timeout_s}")
    except MemoryError:
        return RewardResult.error(f"parsing the completion ran out of memory ({_MEMORY_NOTE})")
    except Exception as exc:
        return RewardResult.ok(0.0, f"no answer found (math-verify raised {type(exc).__name__})")
    if not pred:
        return RewardResult.ok(0.0, "no answer found")
    return _compare(gold, pred, timeout_s, verify, TimeoutException)


def _compare(
    gold: tuple[Any, ...], pred: list[Any], timeout_s: int, verify: Any, timeout_exc: type[BaseException]
) -> RewardResult:
    """math-verify's own `verify(gold_list, pred_list)` is `any` over the product; done here pair by
    pair so that one pair's exception does not hide the others and a timeout stays a timeout."""
    timed_out, out_of_memory, failures = False, False, []
    for g in gold:
        for p in pred:
            try:
                if verify(g, p, timeout_seconds=timeout_s, raise_on_error=True):
                    return RewardResult.ok(1.0)
            except timeout_exc:
                timed_out = True
            except MemoryError:
                out_of_memory = True
            except Exception as exc:  # math-verify's default treats these as "not equal"
                failures.append(type(exc).__name__)
    if timed_out:
        return RewardResult.timeout(f"math-verify comparison exceeded timeout_s={timeout_s}")
    if out_of_memory:
        return RewardResult.error(f"math-verify comparison ran out of memory ({_MEMORY_NOTE})")
    note = f" (comparisons raised {', '.join(sorted(set(failures)))})" if failures else ""
    return RewardResult.ok(0.0, "answer does not match gold" + note)


def _serve(conn: Connection, memory_bytes: int) -> None:
    """Worker entry point: limit memory, warm up, say ready, then judge tasks until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    verify_answer("1", "\\boxed{1}", timeout_s=DEFAULT_TIMEOUT_S)
    try:
        conn.send(("ready", os.getpid()))
        while True:
            answer, completion, timeout_s = conn.recv()
            conn.send(verify_answer(answer, completion, timeout_s=timeout_s))
    except (EOFError, OSError):  # the parent closed the pipe or died
        return


# ---------------------------------------------------------------- parent side


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Connection
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    task: int | None = None  # index of the task it is judging
    deadline: float = 0.0


class _Process:
    """A worker subprocess with the few `multiprocessing.Process` verbs the pool uses."""

    def __init__(self, popen: subprocess.Popen) -> None:
        self.popen = popen
        self.pid = popen.pid

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        self.popen.kill()

    def join(self, timeout: float | None = None) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    @property
    def exitcode(self) -> int | None:
        return self.popen.returncode


class VerifierPool:
    """Spawned math-verify workers with a hard per-sample wall-clock limit.

    Workers start lazily, are reused across batches, and a worker that overruns the hard limit
    or dies is killed and replaced while the others keep going. `close()` stops them all; a
    later `run` starts fresh ones. One `run` at a time (a lock); safe to share between threads.
    """

    def __init__(self, memory_bytes: int = WORKER_MEMORY_BYTES) -> None:
        self._memory_bytes = memory_bytes
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()

    def run(
        self, tasks: list[tuple[str, str]], *, timeout_s: int, hard_timeout_s: float, workers: int
    ) -> list[RewardResult]:
        """Judge `(gold, completion)` pairs; every task gets a result, none waits past its hard limit."""
        with self._lock:
            self._resize(workers)
            results: list[RewardResult | None] = [None] * len(tasks)
            pending = deque(range(len(tasks)))
            try:
                while pending or any(w.task is not None for w in self._workers):
                    self._dispatch(pending, tasks, timeout_s, hard_timeout_s)
                    self._collect(results, hard_timeout_s)
            except BaseException:  # busy workers would answer into the next batch: stop them all
                for worker in self._workers:
                    self._stop(worker)
                self._workers = []
                raise
            return _complete(results)

    def close(self, wait_s: float = 30.0) -> None:
        """Stop the workers; waits up to `wait_s` for a running batch (e.g. a daemon thread at exit)."""
        locked = self._lock.acquire(timeout=wait_s)
        try:
            for worker in self._workers:
                self._stop(worker)
            self._workers = []
        finally:
            if locked:
                self._lock.release()

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    def _resize(self, count: int) -> None:
        while len(self._workers) > count:
            self._stop(self._workers.pop())
        while len(self._workers) < count:
            self._workers.append(self._spawn())

    def _spawn(self) -> _Worker:
        parent_sock, child_sock = socket.socketpair()
        env = {**os.environ, _SYS_PATH_ENV: json.dumps([p or os.getcwd() for p in sys.path])}
        try:
            popen = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(child_sock.fileno()), str(self._memory_bytes)],
                pass_fds=(child_sock.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            child_sock.close()
        return _Worker(_Process(popen), Connection(parent_sock.detach()))

    def _stop(self, worker: _Worker) -> None:
        worker.conn.close()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)

    def _replace(self, worker: _Worker) -> None:
        self._stop(worker)
        self._workers[self._workers.index(worker)] = self._spawn()

    def _dispatch(
        self, pending: deque[int], tasks: list[tuple[str, str]], timeout_s: int, hard_timeout_s: float
    ) -> None:
        for worker in list(self._workers):
            if not pending:
                return
            if not worker.ready or worker.task is not None:
                continue
            index = pending.popleft()
            try:
                worker.conn.send((tasks[index][0], tasks[index][1], timeout_s))
            except OSError:  # died while idle: replace it, the task goes back to the queue
                pending.appendleft(index)
                self._replace(worker)
                continue
            worker.task, worker.deadline = index, time.monotonic() + hard_timeout_s

    def _collect(self, results: list[RewardResult | None], hard_timeout_s: float) -> None:
        """Wait for the next answer, ready signal or deadline, and act on it."""
        waiting = [w for w in self._workers if w.task is not None or not w.ready]
        if not waiting:
            return
        now = time.monotonic()
        limits = [w.deadline if w.task is not None else w.started + STARTUP_LIMIT_S for w in waiting]
        for conn in wait([w.conn for w in waiting], timeout=max(0.0, min(limits) - now)):
            worker = next(w for w in waiting if w.conn is conn)
            self._receive(worker, results)
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.task is not None and now >= worker.deadline:
                results[worker.task] = RewardResult.timeout(
                    f"no verdict within the hard limit hard_timeout_s={hard_timeout_s:g}; worker killed"
                )
                self._replace(worker)
        if any(not w.ready and now >= w.started + STARTUP_LIMIT_S for w in self._workers):
            raise RuntimeError(f"a math-verify worker did not start within {STARTUP_LIMIT_S:g} s")

    def _receive(self, worker: _Worker, results: list[RewardResult | None]) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=5)
            code = worker.process.exitcode
            if not worker.ready:  # `run` stops the pool; the next batch starts a fresh one
                raise RuntimeError(f"a math-verify worker exited during start-up (exit code {code})") from None
            results[_task(worker)] = RewardResult.error(
                f"math-verify worker died (exit code {code}) while judging this sample ({_MEMORY_NOTE})"
            )
            self._replace(worker)
            return
        if not worker.ready:
            worker.ready = True
            return
        results[_task(worker)] = message
        worker.task = None


def _task(worker: _Worker) -> int:
    """The task of a ready worker that `_collect` waited on: it is waited on only while judging one."""
    if worker.task is None:
        raise RuntimeError("internal error: an idle math-verify worker was waited on")
    return worker.task


_POOL: VerifierPool | None = None
_POOL_PID = 0
_POOL_LOCK = threading.Lock()


def _pool() -> VerifierPool:
    """The process-wide pool, created on first use (again in a forked child: pipes do not fork)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid():
            _POOL, _POOL_PID = VerifierPool(), os.getpid()
        return _POOL


def close() -> None:
    """Stop the math-verify workers (also runs at interpreter exit); the next call starts new ones."""
    with _POOL_LOCK:
        pool = _POOL if _POOL_PID == os.getpid() else None
    if pool is not None:
        pool.close()


atexit.register(close)


def _whole_seconds(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1 or int(value) != value:
        raise ValueError(
            f"math reward setting {name} must be a whole number of seconds >= 1 (math-verify's "
            f"signal.alarm ignores fractions), got {value!r}"
        )
    return int(value)


@reward("math", columns=("answer",), description="math-verify: 1 if the final answer equals column 'answer', else 0.")
def math_reward(
    completions: list[str],
    answer: list[Any],
    *,
    timeout_s: int = DEFAULT_TIMEOUT_S,
    hard_timeout_s: float | None = None,
    workers: int | None = None,
    **_: Any,
) -> list[RewardResult]:
    """Score each completion's final answer (last `\\boxed{}` preferred) against its gold answer.

    `timeout_s`: whole seconds math-verify may spend on one parse or one comparison (signal.alarm).
    `hard_timeout_s`: wall-clock limit per sample in a worker; default `2 * timeout_s + 1`.
    `workers`: worker processes; default `min(2, cpu count)`.

    >>> [r.score for r in math_reward(["so $x = \\\\frac{1}{2}$", "\\\\boxed{0.5}"], answer=["0.5", "1/2"])]
    [1.0, 1.0]
    """
    alarm_s = _whole_seconds("timeout_s", timeout_s)
    hard_s = float(hard_timeout_s) if hard_timeout_s is not None else 2.0 * alarm_s + 1.0
    count = int(workers) if workers is not None else min(2, os.cpu_count() or 1)
    if hard_s <= 0 or count < 1:
        raise ValueError(f"math reward needs hard_timeout_s > 0 and workers >= 1, got {hard_timeout_s!r}, {workers!r}")
    results: list[RewardResult | None] = [None] * len(completions)
    unique: dict[tuple[str, str], list[int]] = {}  # duplicates in a batch are judged once
    for i, (completion, gold) in enumerate(zip(completions, answer, strict=True)):
        results[i] = _check_sample(i, completion, gold)
        if results[i] is None:
            unique.setdefault((str(gold), completion or ""), []).append(i)
    if unique:
        keys = list(unique)
        verdicts = _pool().run(keys, timeout_s=alarm_s, hard_timeout_s=hard_s, workers=count)
        for key, verdict in zip(keys, verdicts, strict=True):
            for i in unique[key]:
                results[i] = verdict
    return _complete(results)


def _check_sample(i: int, completion: Any, gold: Any) -> RewardResult | None:
    """An error for a sample the pool cannot judge, else None."""
    if gold is None or (isinstance(gold, str) and not gold.strip()):
        return RewardResult.error(f"column 'answer' is empty for sample {i}")
    if isinstance(gold, bool) or not isinstance(gold, str | int | float):
        return RewardResult.error(f"column 'answer' must be a string, got {type(gold).__name__} for sample {i}")
    if completion is not None and not isinstance(completion, str):
        return RewardResult.error(f"completion {i} must be a string, got {type(completion).__name__}")
    return None


def _complete(results: list[RewardResult | None]) -> list[RewardResult]:
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise RuntimeError(f"math reward produced no result for samples {missing[:10]}")
    return [r for r in results if r is not None]
