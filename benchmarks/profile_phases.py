"""Where one RL step's time goes, phase by phase, in one process (`cluster.type: inline`).

Why: the end-to-end benchmark (grpo_vs_trl.py) says how fast a step is; this says why, with
the driver's own verbs on the benchmark's model and batch: start-up (each worker's
construction), generate, reward, train, weight sync, each timed over `--steps` steps after a
warm-up step, with CPU seconds of this process beside the wall seconds (on a loaded machine the
wall time swings; CPU time swings less). `--torch-profile PHASE` records a torch profiler table
of one step of that phase (train: the learner; generate: the engine), `--py-spy` wraps the whole
run in `py-spy record` (raw collapsed stacks, one file; `--py-spy-summary` groups them by phase).

    PYTHONPATH=. .venv/bin/python benchmarks/profile_phases.py                    # fp32, 3 steps
    PYTHONPATH=. .venv/bin/python benchmarks/profile_phases.py --bf16 --only train --torch-profile train
    PYTHONPATH=. .venv/bin/python benchmarks/profile_phases.py --py-spy /tmp/steps.raw

Not covered: Ray (use grpo_vs_trl.py's `rlsys-torch` rows and their per-process CPU seconds),
the driver's bookkeeping between phases (measured end to end by grpo_vs_trl.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # as a script this folder comes first: benchmarks/rewards.py would shadow `rewards`
    sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]

PHASES = ("generate", "reward", "train", "weight_sync")
PY_SPY_PHASES = {  # py-spy frame (function name) -> phase; the first match from the stack's root wins
    "start_cluster": "start-up",
    "InlineCluster.__init__": "start-up",
    "generate": "generate",
    "score": "reward",
    "train_step": "train",
    "sync_weights": "weight_sync",
}


@contextmanager
def timed(sink: dict[str, list[float]], name: str):
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    sink.setdefault(name, []).append(time.perf_counter() - wall)
    sink.setdefault(f"{name} (CPU s)", []).append(time.process_time() - cpu)


def build(args: argparse.Namespace) -> Any:
    from benchmarks.grpo_vs_trl import CPU_MODEL, rlsys_config, warm_vllm_cache
    from rlsys.toy.tiny import build_tiny_model

    kwargs = dict(CPU_MODEL)
    model = build_tiny_model(Path(args.workdir) / "model", kwargs.pop("arch"), **kwargs)
    warm_vllm_cache(model)
    bench = argparse.Namespace(
        gpu=False, generation="auto", workdir=args.workdir, model=str(model), tag="profile", warmup=1, steps=args.steps
    )
    return rlsys_config(bench, "inline-bf16" if args.bf16 else "inline")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rlsys.core.batch import build_batch
    from rlsys.core.data import load_prompts

    cfg = build(args)
    rows = load_prompts(cfg.data.path, cfg.data.prompt_key, cfg.rewards.default)
    times: dict[str, list[float]] = {}
    with timed(times, "start-up"):
        from rlsys.cluster import InlineCluster

        cluster = InlineCluster(cfg)
    profile = p1 = p2 = p3 = None
    try:
        n = cfg.train.prompts_per_step
        only = set(args.only.split(",")) if args.only else set(PHASES)
        batch: list = []
        for step in range(args.steps + 1):
            sink = times if step else {}  # step 0 warms up
            batch_rows = rows[step * n : (step + 1) * n]
            if step == 0 or {"generate", "reward"} & only:  # --only train/weight_sync: the first batch again
                with timed(sink, "generate"), maybe_profile(args, "generate", step) as p1:
                    samples = cluster.generate([r[cfg.data.prompt_key] for r in batch_rows])
                with timed(sink, "reward"):
                    results, _ = cluster.score(
                        [s.completion for s in samples], [batch_rows[s.prompt_index] for s in samples]
                    )
                batch, _ = build_batch(samples, results, cfg)
            if step == 0 or "train" in only:
                with timed(sink, "train"), maybe_profile(args, "train", step) as p2:
                    cluster.train(batch, sum(len(s.completion_ids) for s in batch), len(batch))
            if step == 0 or "weight_sync" in only:
                with timed(sink, "weight_sync"), maybe_profile(args, "weight_sync", step) as p3:
                    cluster.sync_weights(step + 1)
            profile = profile or p1 or p2 or p3
    finally:
        cluster.shutdown()
    out = {
        "bf16": args.bf16,
        "load": os.getloadavg()[0],
        "median_s": {k: statistics.median(v) for k, v in times.items()},
        "all_s": times,
    }
    if profile is not None:
        out["torch_profile"] = profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
    return out


@contextmanager
def maybe_profile(args: argparse.Namespace, phase: str, step: int):
    if args.torch_profile != phase or step != 1:
        yield None
        return
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        yield prof


def summarize_py_spy(path: Path) -> dict[str, float]:
    """Share of py-spy samples per phase: the first frame on each stack (root first) that names
    a phase (`PY_SPY_PHASES`); everything before the cluster exists is `imports and setup`."""
    counts: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        phase = "imports and setup"
        for frame in stack.split(";"):
            name = frame.split(" (")[0].strip()
            hit = next((p for f, p in PY_SPY_PHASES.items() if name == f or name.endswith("." + f)), None)
            if hit:
                phase = hit
                break
        counts[phase] = counts.get(phase, 0) + int(n)
    total = sum(counts.values()) or 1
    return {k: round(v / total, 3) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast learner and bfloat16 engine")
    ap.add_argument("--steps", type=int, default=3, help="measured steps (after one warm-up step)")
    ap.add_argument(
        "--only",
        default=None,
        help=f"comma-separated phases to time after the warm-up step, of {PHASES} "
        "(train / weight_sync alone reuse the warm-up step's batch)",
    )
    ap.add_argument("--torch-profile", choices=PHASES, default=None, help="torch profiler table of one step of it")
    ap.add_argument("--py-spy", default=None, help="record the run with py-spy into this raw file")
    ap.add_argument("--py-spy-summary", default=None, help="only summarize this raw py-spy file by phase")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)
    if args.py_spy_summary:
        print(json.dumps(summarize_py_spy(Path(args.py_spy_summary)), indent=1))
        return None
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="rlsys-profile-")
    os.environ.setdefault("VLLM_CACHE_ROOT", str(Path(args.workdir) / "vllm-cache"))
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.py_spy:
        rest = [a for a in (argv if argv is not None else sys.argv[1:])]
        i = rest.index("--py-spy")
        rest = rest[:i] + rest[i + 2 :] + ["--workdir", args.workdir]
        cmd = [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "-r",
            "50",
            "--format",
            "raw",
            "-o",
            args.py_spy,
            "--",
            sys.executable,
            __file__,
            *rest,
        ]
        subprocess.run(cmd, check=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
        print(json.dumps(summarize_py_spy(Path(args.py_spy)), indent=1))
        return None
    out = run(args)
    print(out.pop("torch_profile", ""))
    print(json.dumps({k: v for k, v in out.items() if k != "all_s"}, indent=1))
    (Path(args.workdir) / "profile.json").write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
