"""How much of generation can hide behind the learner's step on this machine (issue 14, item 4).

Why: a vLLM decode step of a tiny model does not fill two cores (per-step Python scheduling,
sampling, small GEMMs), so an asynchronous loop (the learner trains on batch k while the engine
generates batch k+1, issue 12) could hide part of generation. This measures the part, before
anyone builds that loop: an engine (rlsys `RolloutWorker`, vLLM) and a learner (rlsys
`Learner`) in two processes, on the benchmark's model and batch (benchmarks/grpo_vs_trl.py:
4 prompts x 8 samples x 128 tokens, 18.3M Llama), timed alone and started together.

Reported per thread split (engine threads / learner threads): generate alone, train alone,
both together (each one's time and the wall time of the pair), and
  hidden = (generate alone + train alone - together wall) / generate alone
the share of generation that overlapping hides (1 = all of it, 0 = none: the two only shared
the cores). The learner trains on a fixed batch (one generated at start-up) so that the two
measurements are the same work; its weights do change every step, as in training.

    PYTHONPATH=. .venv/bin/python benchmarks/overlap.py                 # fp32, splits 2/2 and 1/1, 3 rounds
    PYTHONPATH=. .venv/bin/python benchmarks/overlap.py --bf16 --splits 2/2,1/1,1/2

Not covered: the asynchronous loop itself (weight sync between the two, staleness), Ray (plain
processes here, so Ray's daemons are not in the numbers), more than one engine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # as a script this folder comes first: benchmarks/rewards.py would shadow `rewards`
    sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]


def config(args: argparse.Namespace, model: str, workdir: str) -> Any:
    from benchmarks.grpo_vs_trl import rlsys_config

    bench = argparse.Namespace(
        gpu=False, generation="auto", workdir=workdir, model=model, tag="overlap", warmup=1, steps=1
    )
    return rlsys_config(bench, "inline-bf16" if args.bf16 else "inline")


def serve(role: str, cfg: Any, threads: int, conn: Any) -> None:
    """Child process: build the engine or the learner, then run timed commands from `conn`."""
    os.environ.update(
        OMP_NUM_THREADS=str(threads),
        VLLM_ENABLE_V1_MULTIPROCESSING="0",
        VLLM_CPU_KVCACHE_SPACE="1",
        TOKENIZERS_PARALLELISM="false",
        VLLM_LOGGING_LEVEL="WARNING",
    )
    import torch

    torch.set_num_threads(threads)
    if role == "engine":
        from actors.rollout import RolloutWorker

        worker: Any = RolloutWorker(cfg.model.path, cfg.rollout, seed=cfg.run.seed, dtype=cfg.rollout_dtype)
    else:
        from actors.distributed import free_port
        from actors.learner import Learner
        from rlsys.cluster import learner_kwargs

        kwargs = learner_kwargs(cfg, 0, ("127.0.0.1", free_port()))
        worker = Learner(**{**kwargs, "cfg": cfg.learner.model_copy(update={"threads": threads})})
    conn.send(("ready", torch.get_num_threads()))
    while True:
        command, payload = conn.recv()
        if command == "stop":
            return
        start = time.perf_counter()
        out = worker.generate(payload) if role == "engine" else worker.train_step(*payload)
        end = time.perf_counter()
        conn.send((start, end, out if role == "engine" else None))


def train_batch(cfg: Any, samples: list) -> tuple[list, int, int]:
    from benchmarks.grpo_vs_trl import digit_share
    from rewards.compose import CompositeResult
    from rlsys.core.batch import build_batch

    scores = digit_share([s.completion for s in samples])  # as the driver gets them from the reward worker
    batch, _ = build_batch(samples, [CompositeResult(r.score, rewards={"digit_share": r}) for r in scores], cfg)
    return batch, sum(len(s.completion_ids) for s in batch), len(batch)


def measure(args: argparse.Namespace, cfg: Any, prompts: list, engine_threads: int, learner_threads: int) -> dict:
    ctx = mp.get_context("spawn")
    pipes = {}
    procs = []
    for role, threads in (("engine", engine_threads), ("learner", learner_threads)):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=serve, args=(role, cfg, threads, child), daemon=True)
        proc.start()
        procs.append(proc)
        pipes[role] = parent
    try:
        threads = {role: pipe.recv()[1] for role, pipe in pipes.items()}
        pipes["engine"].send(("run", prompts))
        samples = pipes["engine"].recv()[2]
        work = train_batch(cfg, samples)
        pipes["learner"].send(("run", work))  # warm-up step
        pipes["learner"].recv()
        rows = []
        for _ in range(args.rounds):
            alone = {}
            for role, payload in (("engine", prompts), ("learner", work)):
                pipes[role].send(("run", payload))
                start, end, _ = pipes[role].recv()
                alone[role] = end - start
            load = os.getloadavg()[0]
            for role, payload in (("engine", prompts), ("learner", work)):
                pipes[role].send(("run", payload))
            spans = {role: pipes[role].recv()[:2] for role in pipes}
            wall = max(e for _, e in spans.values()) - min(s for s, _ in spans.values())
            rows.append(
                {
                    "generate_alone": alone["engine"],
                    "train_alone": alone["learner"],
                    "generate_together": spans["engine"][1] - spans["engine"][0],
                    "train_together": spans["learner"][1] - spans["learner"][0],
                    "together_wall": wall,
                    "hidden": (alone["engine"] + alone["learner"] - wall) / alone["engine"],
                    "load": load,
                }
            )
        return {
            "engine_threads": threads["engine"],
            "learner_threads": threads["learner"],
            "rounds": rows,
            "median": {k: statistics.median(r[k] for r in rows) for k in rows[0]},
        }
    finally:
        for pipe in pipes.values():
            pipe.send(("stop", None))
        for proc in procs:
            proc.join(timeout=60)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast learner and bfloat16 engine")
    ap.add_argument("--splits", default="2/2,1/1", help="engine threads / learner threads, comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests: a 0.6M model, 2 x 4 x 16 tokens
    args = ap.parse_args(argv)
    from benchmarks.grpo_vs_trl import CPU_MODEL, prompt_messages
    from rlsys.toy.tiny import build_tiny_model

    workdir = args.workdir or tempfile.mkdtemp(prefix="rlsys-overlap-")
    os.environ.setdefault("VLLM_CACHE_ROOT", str(Path(workdir) / "vllm-cache"))
    kwargs = (
        dict(arch="llama", hidden_size=128, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=32)
        if args.tiny
        else dict(CPU_MODEL)
    )
    model = str(build_tiny_model(Path(workdir) / "model", kwargs.pop("arch"), **kwargs))
    cfg = config(args, model, workdir)
    if args.tiny:
        cfg.rollout.samples_per_prompt, cfg.rollout.max_new_tokens, cfg.rollout.min_new_tokens = 4, 16, 16
    prompts = prompt_messages(2 if args.tiny else cfg.train.prompts_per_step)
    results = []
    for split in args.splits.split(","):
        engine_threads, learner_threads = (int(x) for x in split.split("/"))
        result = measure(args, cfg, prompts, engine_threads, learner_threads)
        results.append(result)
        m = result["median"]
        print(
            f"engine {result['engine_threads']} threads / learner {result['learner_threads']}: generate "
            f"{m['generate_alone']:.2f} s alone, {m['generate_together']:.2f} s together; train "
            f"{m['train_alone']:.2f} s alone, {m['train_together']:.2f} s together; together wall "
            f"{m['together_wall']:.2f} s vs {m['generate_alone'] + m['train_alone']:.2f} s in turn: "
            f"hidden {m['hidden']:.0%} of generation (load {m['load']:.1f})",
            flush=True,
        )
    out = {"bf16": args.bf16, "results": results}
    (Path(workdir) / "overlap.json").write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
