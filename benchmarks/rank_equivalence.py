"""How closely 2 learner ranks reproduce 1 rank: the same GRPO batch, the same steps.

For each strategy (torch, DeepSpeed ZeRO-1/2/3) the learner runs as Ray actors (gloo on CPU)
through the RL cluster's own code (`ActorGroup.ranks`, `rlsys.cluster.train_on_ranks`): once
with 1 rank, once with 2 ranks that split the batch by tokens, and the script prints the largest
relative difference of the step losses and gradient norms and the largest absolute difference
of the updated weights (Adam moves each weight by about `lr` per step, so compare with it).

    python benchmarks/rank_equivalence.py [--steps 3] [--lr 1e-3] [--model DIR]

Not covered: GPUs (NCCL); tests/test_learner_ranks.py asserts the same with tolerances.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the repository first; not this folder (benchmarks/rewards.py would hide the `rewards` package)
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

import torch  # noqa: E402


def grpo_batch(prompts: int = 8, samples: int = 4, seed: int = 0):
    from rlsys.core.types import TrainSample

    g = torch.Generator().manual_seed(seed)
    out = []
    for _j in range(prompts):
        prompt = torch.randint(5, 900, (int(torch.randint(6, 40, (1,), generator=g)),), generator=g).tolist()
        for _k in range(samples):
            n = int(torch.randint(4, 120, (1,), generator=g))
            out.append(
                TrainSample(
                    prompt,
                    torch.randint(5, 900, (n,), generator=g).tolist(),
                    float(torch.randn((), generator=g)),
                    [-2.0] * n,
                )
            )
    return out


def run(model: str, cfg, ranks: int, steps: int, name: str):
    import ray

    from actors.group import ActorGroup
    from actors.learner import Learner
    from rlsys.cluster import train_on_ranks
    from rlsys.core.batch import merge_learner_metrics

    batch = grpo_batch()
    total = sum(len(s.completion_ids) for s in batch)
    group = ActorGroup.ranks(
        Learner,
        ranks,
        num_cpus=1,
        name=name,
        init=lambda rank, address: (
            (),
            dict(
                model_path=model,
                cfg=cfg,
                total_steps=steps,
                rank=rank,
                world_size=ranks,
                master_addr=address[0],
                master_port=address[1],
                local_rank=0,
            ),
        ),
    )
    try:
        metrics = [
            merge_learner_metrics(ray.get(train_on_ranks(group, batch, total, len(batch)))) for _ in range(steps)
        ]
        weights = ray.get(group.run("export_weights", steps))[0].data
        ray.get(group.run("close"))
    finally:
        group.kill()
    return metrics, weights


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def main(argv=None) -> None:
    import ray

    from rlsys.core.config import LearnerConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--micro-batch-tokens", type=int, default=256)
    ap.add_argument("--model", default=None, help="a model folder (default: a tiny random Llama)")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="rank-eq-")
    if args.model is None:
        from rlsys.toy.tiny import build_tiny_model

        args.model = str(build_tiny_model(Path(tmp) / "llama", "llama"))
    ray.init(num_cpus=3, include_dashboard=False, _temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"))
    rows = []
    try:
        for strategy, stage in (("torch", 0), ("deepspeed", 1), ("deepspeed", 2), ("deepspeed", 3)):
            cfg = LearnerConfig(
                strategy=strategy, zero_stage=stage, lr=args.lr, micro_batch_tokens=args.micro_batch_tokens
            )
            label = strategy if strategy == "torch" else f"zero{stage}"
            one, w1 = run(args.model, cfg, 1, args.steps, f"one-{label}")
            two, w2 = run(args.model, cfg, 2, args.steps, f"two-{label}")
            rows.append(
                (
                    label,
                    max(rel(a["loss"], b["loss"]) for a, b in zip(one, two)),
                    max(rel(a["grad_norm"], b["grad_norm"]) for a, b in zip(one, two)),
                    max(float((w1[k].float() - w2[k].float()).abs().max()) for k in w1),
                )
            )
            print(f"{label}: done", flush=True)
    finally:
        ray.shutdown()
    print(
        f"\n{args.steps} steps, lr {args.lr}, {len(grpo_batch())} samples, micro-batches of "
        f"{args.micro_batch_tokens} tokens\n"
    )
    print("| strategy | max rel. diff loss | max rel. diff grad norm | max abs. diff weights |")
    print("|---|---|---|---|")
    for label, dl, dg, dw in rows:
        print(f"| {label} | {dl:.1e} | {dg:.1e} | {dw:.1e} |")


if __name__ == "__main__":
    main()
