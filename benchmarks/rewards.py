"""Reward throughput: what the isolation of each reward costs, measured against the bare call.

Why: rewards cross process boundaries on purpose (math-verify in a killable pool, code in a
bubblewrap sandbox, COMET in its own environment, any reward over HTTP); this says what each
boundary costs per sample, so a user can size reward workers against rollout throughput.

Measured (each after a warm-up call):
- math: verifications/s through `rewards.math_verify_reward` (the worker pool, 1 and 2 workers)
  vs plain in-process math-verify (`verify(parse(gold), parse(completion))`) and vs the same
  judging code (`verify_answer`) in-process, on the same unique (gold, completion) pairs;
- code: runs/s and p50/p99 latency of `rewards.sandbox.Sandbox` (bubblewrap, own uid, rlimits)
  vs a bare `python3 -c` subprocess, at concurrency 1 and 8;
- server: samples/s and p50/p99 request latency of a real `python -m rewards.service` (uvicorn)
  serving the trivial `exact_match` reward (so the numbers are the service's own cost), at batch
  sizes 1, 32, 256 and 1 or 16 concurrent clients (threads with keep-alive connections);
- COMET QE: segments/s of `comet_qe` on the tiny offline checkpoint (rlsys/toy/comet_tiny.py),
  in `.venv-qe` (skipped, and said so, when that environment is missing);
- instruction checks: ms per 32 KB completion (`--instruction-kb`) for each of the 25 IFEval
  constraint types through the in-process `instructions` reward.

    PYTHONPATH=. .venv/bin/python benchmarks/rewards.py            # ~1 min on 2 cores
    PYTHONPATH=. .venv/bin/python benchmarks/rewards.py --docs     # also rewrite docs/benchmarks.md

Not covered: the client and the server share the machine's cores (on 2 cores the load generator
takes CPU from the server, so server numbers are a lower bound); math-verify on hard inputs
(timeouts) and hostile code (those are correctness tests, in tests/); real COMET models (the tiny
checkpoint has a 2-layer encoder: its speed says nothing about a 2.3B CometKiwi).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # run as a script, this folder would come first: benchmarks/rewards.py shadows `rewards`
    sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]
QE_PYTHON = REPO / ".venv-qe" / "bin" / "python"
SNIPPET = "print(sum(i * i for i in range(1000)))"
# the interpreter and environment the sandbox gives its programs (a `python3` on PATH may be a slow shim)
BARE_PYTHON = "/usr/bin/python3"
BARE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------- math


def math_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Unique (gold, completion) pairs in the shapes math answers take; about a third are wrong."""
    rng = random.Random(seed)
    forms = (
        lambda a, b: (f"{a}/{b}", f"Dividing gives $\\frac{{{a}}}{{{b}}}$."),
        lambda a, b: (f"{a * b}", f"Multiplying, the result is \\boxed{{{a * b}}}."),
        lambda a, b: (f"{a}/{b}", f"So the value is \\boxed{{{a / b:.6g}}}"),
        lambda a, b: (f"\\sqrt{{{a}}}", f"Hence $x = \\sqrt{{{a}}}$, i.e. \\boxed{{\\sqrt{{{a}}}}}."),
        lambda a, b: (f"{a}", f"I first thought {a}, but it is \\boxed{{{a + b}}}."),
        lambda a, b: (f"[{a}, {a + b}]", f"The interval is \\boxed{{[{a},{a + b}]}}."),
        lambda a, b: (f"{a}x + {b}", f"Simplifying: \\boxed{{{b} + {a}x}}"),
        lambda a, b: (f"{a}", f"The answer is {a - 1}."),
    )
    pairs: dict[tuple[str, str], None] = {}
    while len(pairs) < n:
        pairs[forms[len(pairs) % len(forms)](rng.randint(2, 10**4), rng.randint(2, 997))] = None
    return list(pairs)


def bench_math(n: int) -> dict[str, Any]:
    from math_verify import parse, verify

    from rewards import math_verify_reward as mv

    pairs, warm = math_pairs(n, seed=1), math_pairs(32, seed=2)
    golds, completions = [g for g, _ in pairs], [c for _, c in pairs]
    out: dict[str, Any] = {"pairs": n, "load_before": load()}

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return n / (time.perf_counter() - start)

    for g, c in warm:  # imports and SymPy caches, as the pool's workers warm up on start
        verify(parse(f"${g}$"), parse(c))
    out["plain_math_verify_per_s"] = timed(lambda: [verify(parse(f"${g}$"), parse(c)) for g, c in pairs])
    out["verify_answer_in_process_per_s"] = timed(lambda: [mv.verify_answer(g, c) for g, c in pairs])
    for workers in (1, 2):
        mv.math_reward([c for _, c in warm], answer=[g for g, _ in warm], workers=workers)
        results: list[Any] = []
        out[f"pool_{workers}_workers_per_s"] = timed(
            lambda w=workers, res=results: res.extend(mv.math_reward(completions, answer=golds, workers=w))
        )
        out[f"pool_{workers}_ok_share"] = sum(r.status == "ok" for r in results) / n
        out[f"pool_{workers}_correct_share"] = sum(r.status == "ok" and r.score == 1.0 for r in results) / n
    mv.close()
    out["load_after"] = load()
    return out


# ---------------------------------------------------------------- code


def bench_code(n: int) -> dict[str, Any]:
    from rewards.sandbox import Job, Sandbox, SandboxUnavailable

    out: dict[str, Any] = {"program": f"python3 -c {SNIPPET!r}", "load_before": load()}
    for concurrency in (1, 8):
        sandbox = Sandbox(concurrency=concurrency)
        try:
            sandbox.check()
        except SandboxUnavailable as exc:
            out["sandbox_unavailable"] = str(exc)
        jobs = [Job(["python3", "-c", SNIPPET]) for _ in range(n)]
        if "sandbox_unavailable" not in out:
            sandbox.map(jobs[:concurrency])  # warm-up
            start = time.perf_counter()
            results = sandbox.map(jobs)
            wall = time.perf_counter() - start
            assert all(r.ok and r.stdout.strip() == b"332833500" for r in results), results[0]
            out[f"sandbox_c{concurrency}"] = summary_row(n, wall, [r.wall_s for r in results])
        out[f"bare_c{concurrency}"] = bare_runs(n, concurrency)
    out["load_after"] = load()
    return out


def bare_runs(n: int, concurrency: int) -> dict[str, float]:
    def one(_: int) -> float:
        start = time.perf_counter()
        done = subprocess.run([BARE_PYTHON, "-c", SNIPPET], capture_output=True, check=True, env=BARE_ENV)
        assert done.stdout.strip() == b"332833500"
        return time.perf_counter() - start

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(concurrency)))  # warm-up
        start = time.perf_counter()
        latencies = list(pool.map(one, range(n)))
    return summary_row(n, time.perf_counter() - start, latencies)


def summary_row(n: int, wall: float, latencies: list[float]) -> dict[str, float]:
    return {"per_s": n / wall, "p50_ms": 1e3 * pct(latencies, 0.5), "p99_ms": 1e3 * pct(latencies, 0.99), "n": n}


# ---------------------------------------------------------------- server


def start_server() -> tuple[subprocess.Popen, str]:
    cmd = [
        sys.executable,
        "-m",
        "rewards.service",
        "--rewards",
        "exact_match",
        "--port",
        "0",
        "--log-level",
        "warning",
        "--max-concurrency",
        "8",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    for line in proc.stdout:  # type: ignore[union-attr]
        if "ready at " in line:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # type: ignore[union-attr]
            return proc, line.rsplit("ready at ", 1)[1].strip()
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError(f"reward server did not start: {' '.join(cmd)}")


def bench_server(seconds: float) -> dict[str, Any]:
    import httpx

    proc, url = start_server()
    out: dict[str, Any] = {"reward": "exact_match", "load_before": load(), "url_kind": "127.0.0.1, HTTP/1.1"}
    try:
        for batch in (1, 32, 256):
            body = json.dumps(
                {
                    "samples": [
                        {"completion": str(i), "reward": "exact_match", "columns": {"answer": str(i % 7)}}
                        for i in range(batch)
                    ]
                }
            ).encode()
            for concurrency in (1, 16):
                out[f"b{batch}_c{concurrency}"] = drive(httpx, url, body, batch, concurrency, seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    out["load_after"] = load()
    return out


def drive(httpx: Any, url: str, body: bytes, batch: int, concurrency: int, seconds: float) -> dict[str, float]:
    """`concurrency` threads post `body` back to back for `seconds`; every answer is checked."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            http.post(f"{url}/v1/score", content=body, headers={"Content-Type": "application/json"})  # warm-up
            while time.perf_counter() < stop:
                start = time.perf_counter()
                response = http.post(f"{url}/v1/score", content=body, headers={"Content-Type": "application/json"})
                elapsed = time.perf_counter() - start
                if response.status_code != 200 or len(response.json()["results"]) != batch:
                    raise RuntimeError(f"reward server answered {response.status_code}: {response.text[:200]}")
                with lock:
                    latencies.append(elapsed)

    begin = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - begin
    return {
        "samples_per_s": batch * len(latencies) / wall,
        "requests": len(latencies),
        "p50_ms": 1e3 * pct(latencies, 0.5),
        "p99_ms": 1e3 * pct(latencies, 0.99),
    }


# ---------------------------------------------------------------- instruction checks


IFEVAL_ARGS: dict[str, dict[str, Any]] = {
    "keywords:existence": {"keywords": ["garden", "budget"]},
    "keywords:frequency": {"keyword": "garden", "frequency": 3, "relation": "at least"},
    "keywords:forbidden_words": {"forbidden_words": ["zebra"]},
    "keywords:letter_frequency": {"letter": "z", "let_frequency": 3, "let_relation": "less than"},
    "language:response_language": {"language": "en"},
    "length_constraints:number_sentences": {"num_sentences": 40, "relation": "at least"},
    "length_constraints:number_paragraphs": {"num_paragraphs": 4},
    "length_constraints:number_words": {"num_words": 300, "relation": "at least"},
    "length_constraints:nth_paragraph_first_word": {"num_paragraphs": 4, "nth_paragraph": 2, "first_word": "the"},
    "detectable_content:number_placeholders": {"num_placeholders": 2},
    "detectable_content:postscript": {"postscript_marker": "P.S."},
    "detectable_format:number_bullet_lists": {"num_bullets": 5},
    "detectable_format:number_highlighted_sections": {"num_highlights": 3},
    "detectable_format:multiple_sections": {"section_spliter": "Section", "num_sections": 3},
    "combination:repeat_prompt": {"prompt_to_repeat": "Write about gardens."},
    "startend:end_checker": {"end_phrase": "Any other questions?"},
    "change_case:capital_word_frequency": {"capital_frequency": 5, "capital_relation": "at least"},
}


def long_completion(size: int, seed: int) -> str:
    """A markdown-ish English completion of `size` characters: headings, lists, bold, abbreviations."""
    rng = random.Random(seed)
    pieces = [
        "## Section {n}",
        "* The *garden* budget grew by 3.5 percent in Jan. this year.",
        "Dr. Smith met Mrs. Jones at 5 p.m. and they talked!",
        "**Why does it matter?** Because costs rise.",
        "- I'm sure NASA's plan works, e.g. in the U.S. and elsewhere.",
        "Fill in [name] and [address] here.",
        "1. Open the box.",
        "It was great... wasn't it? YES, it was.",
        "",
    ]
    out, n = [], 0
    while sum(map(len, out)) < size:
        n += 1
        out.append(rng.choice(pieces).format(n=n))
    return "\n".join(out)[:size]


def bench_instructions(kb: int, n: int) -> dict[str, Any]:
    """ms per completion of `kb` KB for each IFEval constraint type, through the `instructions` reward."""
    from rewards.instructions import IFEVAL_TYPES
    from rewards.registry import get_reward, score

    spec = get_reward("instructions")
    completions = [long_completion(kb * 1000, seed) for seed in range(n)]
    score(spec, completions[:1], {"constraints": [[{"type": "language:response_language", "language": "en"}]]})
    out: dict[str, Any] = {"kb": kb, "completions": n, "load_before": load(), "ms_per_completion": {}}
    for kind in IFEVAL_TYPES:
        constraints = [[{"type": kind, **IFEVAL_ARGS.get(kind, {})}]] * n
        start = time.perf_counter()
        results = score(spec, completions, {"constraints": constraints})
        out["ms_per_completion"][kind] = (time.perf_counter() - start) / n * 1000
        assert all(r.status == "ok" for r in results), results[0]
    out["all_types_ms"] = sum(out["ms_per_completion"].values())
    out["load_after"] = load()
    return out


# ---------------------------------------------------------------- COMET (runs in .venv-qe)


def bench_comet(workdir: Path, n: int) -> dict[str, Any]:
    if not QE_PYTHON.exists():
        return {"skipped": f"{QE_PYTHON} not found: build it with scripts/setup_qe_env.sh"}
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    ckpt = workdir / "comet-qe"
    start = time.perf_counter()
    built = subprocess.run(
        [str(QE_PYTHON), "-m", "rlsys.toy.comet_tiny", str(ckpt), "--kind", "qe"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        return {"skipped": f"building the tiny COMET checkpoint failed: {built.stderr[-400:]}"}
    build_s = time.perf_counter() - start
    worker = subprocess.run(
        [str(QE_PYTHON), __file__, "--comet-worker", str(ckpt), "--n", str(n)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if worker.returncode != 0:
        return {"skipped": f"COMET worker failed: {worker.stderr[-400:]}"}
    result = json.loads(worker.stdout.strip().splitlines()[-1])
    result["checkpoint_build_s"] = build_s
    return result


def comet_worker(ckpt: str, n: int) -> None:
    """In .venv-qe: segments/s of `comet_qe` at two batch sizes (model load timed apart)."""
    import comet

    from rewards.translation import comet_qe
    from rlsys.toy.comet_tiny import CORPUS

    src = [CORPUS[i % len(CORPUS)][0] for i in range(n)]
    mt = [f"{CORPUS[i % len(CORPUS)][2]} ({i})" for i in range(n)]
    out: dict[str, Any] = {"segments": n, "unbabel_comet": comet.__version__, "load_before": load()}
    start = time.perf_counter()
    comet_qe(mt[:8], src=src[:8], model_path=ckpt, batch_size=8)  # loads the model once per process
    out["first_call_s"] = time.perf_counter() - start
    for batch in (16, 64):
        start = time.perf_counter()
        results = comet_qe(mt, src=src, model_path=ckpt, batch_size=batch)
        out[f"batch{batch}_segments_per_s"] = n / (time.perf_counter() - start)
        assert all(r.status == "ok" for r in results), results[0]
    out["load_after"] = load()
    print(json.dumps(out))


# ---------------------------------------------------------------- report


def markdown(res: dict[str, Any], command: str) -> str:
    m, code, srv, qe = res["math"], res["code"], res["server"], res["comet"]
    lines = [
        "## Reward throughput (`benchmarks/rewards.py`)",
        "",
        f"Command: `{command}`  ",
        f"Machine: {res['machine']}; {res['date']}.",
        "",
        f"**math** ({m['pairs']} unique pairs; load {m['load_before']} -> {m['load_after']}):",
        "",
        "| path | verifications/s |",
        "|---|---|",
        f"| plain math-verify in-process (`verify(parse(gold), parse(c))`) | {m['plain_math_verify_per_s']:.0f} |",
        f"| rlsys judging code in-process (`verify_answer`, last-box rule, statuses) | "
        f"{m['verify_answer_in_process_per_s']:.0f} |",
        f"| `math` reward, pool of 1 worker | {m['pool_1_workers_per_s']:.0f} |",
        f"| `math` reward, pool of 2 workers (default on 2 cores) | {m['pool_2_workers_per_s']:.0f} |",
        "",
        f"Pool results: {m['pool_2_ok_share']:.0%} status ok, {m['pool_2_correct_share']:.0%} judged correct.",
        "",
        f"**code** (`{code['program']}`; load {code['load_before']} -> {code['load_after']}):",
        "",
    ]
    if "sandbox_unavailable" in code:
        lines += [f"Sandbox unavailable here: {code['sandbox_unavailable']}", ""]
    lines += ["| runner | concurrency | runs/s | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    for runner in ("sandbox", "bare"):
        for c in (1, 8):
            if f"{runner}_c{c}" in code:
                r = code[f"{runner}_c{c}"]
                name = "bubblewrap sandbox (own uid, rlimits)" if runner == "sandbox" else "bare `/usr/bin/python3 -c`"
                lines.append(f"| {name} | {c} | {r['per_s']:.0f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} |")
    lines += [
        "",
        f"**server** (uvicorn, `{srv['reward']}` reward, client threads on the same cores; load "
        f"{srv['load_before']} -> {srv['load_after']}):",
        "",
        "| batch | clients | samples/s | requests | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for key, r in srv.items():
        if key.startswith("b") and "_c" in key:
            b, c = key[1:].split("_c")
            lines.append(
                f"| {b} | {c} | {r['samples_per_s']:.0f} | {r['requests']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
            )
    lines += ["", "**COMET QE** (tiny offline checkpoint, `.venv-qe`):", ""]
    if "skipped" in qe:
        lines.append(f"Not measured: {qe['skipped']}")
    else:
        lines.append(
            f"{qe['segments']} segments: {qe['batch16_segments_per_s']:.0f} segments/s at batch 16, "
            f"{qe['batch64_segments_per_s']:.0f} at batch 64; first call (model load) "
            f"{qe['first_call_s']:.1f} s; building the checkpoint {qe['checkpoint_build_s']:.0f} s; "
            f"unbabel-comet {qe['unbabel_comet']}; load {qe['load_before']} -> {qe['load_after']}."
        )
    ins = res.get("instructions", {})
    if "ms_per_completion" in ins:
        slow = sorted(ins["ms_per_completion"].items(), key=lambda kv: -kv[1])[:3]
        lines += [
            "",
            f"**instruction checks** ({ins['kb']} KB markdown-ish English completions, "
            f"`instructions` reward, in-process; load {ins['load_before']} -> {ins['load_after']}): "
            f"{ins['all_types_ms']:.0f} ms per completion for all 25 IFEval types, one check each; slowest "
            + ", ".join(f"`{k.split(':')[1]}` {v:.0f} ms" for k, v in slow)
            + ".",
        ]
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--math-pairs", type=int, default=400)
    ap.add_argument("--code-runs", type=int, default=48)
    ap.add_argument("--server-seconds", type=float, default=3.0, help="per (batch, clients) setting")
    ap.add_argument("--comet-segments", type=int, default=256)
    ap.add_argument("--instruction-kb", type=int, default=32, help="completion size for the instruction checks")
    ap.add_argument("--only", default="math,code,server,comet,instructions", help="comma-separated subset")
    ap.add_argument("--docs", action="store_true", help="rewrite the section in docs/benchmarks.md")
    ap.add_argument("--comet-worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=256, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.comet_worker:
        return comet_worker(args.comet_worker, args.n)
    from benchmarks.measure import machine, update_docs

    info = machine()
    only = args.only.split(",")
    res: dict[str, Any] = {"machine": f"{info['cores']} cores, {info['cpu']}", "date": info["date"]}
    with tempfile.TemporaryDirectory(prefix="rlsys-bench-rewards-") as tmp:
        steps = {
            "math": lambda: bench_math(args.math_pairs),
            "code": lambda: bench_code(args.code_runs),
            "server": lambda: bench_server(args.server_seconds),
            "comet": lambda: bench_comet(Path(tmp), args.comet_segments),
            "instructions": lambda: bench_instructions(args.instruction_kb, 8),
        }
        for name, fn in steps.items():
            res[name] = fn() if name in only else {"skipped": "not selected (--only)"}
            print(name, json.dumps(res[name]), flush=True)
    if set(only) >= {"math", "code", "server", "comet"}:
        command = " ".join(["PYTHONPATH=. .venv/bin/python benchmarks/rewards.py", *sys.argv[1:]])
        section = markdown(res, command)
        print(section)
        if args.docs:
            update_docs(section, REPO / "docs" / "benchmarks.md", "<!-- rewards:begin -->", "<!-- rewards:end -->")


if __name__ == "__main__":
    main()
