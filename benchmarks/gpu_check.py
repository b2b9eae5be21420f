"""GPU check: a 0.5B-shaped random Qwen2 trained for a few GRPO steps in one process on CUDA.

What it runs (no Ray, no vLLM; the project's own classes, in one process as `cluster.type:
inline` does): the learner (`actors.learner.Learner`) and the transformers rollout backend
(`actors.rollout.RolloutWorker`, backend `hf`) on the GPU. Per variant of the learner:
  1. GRPO steps: generate (HF), score (a verifiable token reward: the share of even token ids,
     which varies within a group even for a random model), group advantages
     (`rlsys.core.batch.advantages`), one learner step, weight sync to the rollout model;
  2. timed learner steps on `--timed-batch-tokens` of random samples of `--timed-seq-len` tokens
     each (default 8 x 2048 per packed micro-batch of 16,384 tokens; the first step warms up).
It checks that losses and gradient norms are finite, that the weights changed and that the
rollout model holds the learner's weights after the sync, and prints learner tokens/s and MFU
(6 * N * tokens/s over the card's dense bf16 peak; N counts every parameter once, tokens are
the packed tokens the learner ran forward and backward).

Variants (`--variants`, default all three):
  bf16        pure bfloat16 weights, fused AdamW (torch strategy): the fastest;
  autocast    float32 weights under bfloat16 autocast (torch strategy);
  deepspeed   bfloat16 weights with float32 master weights (DeepSpeed ZeRO-2, one rank); skipped
              with a note when DeepSpeed is not installed.
`--compile` compiles the decoder layers (`learner.compile`) in every variant.

Environment: only torch + transformers (+ safetensors, tokenizers) are needed besides this
project and its pure-Python dependencies (pydantic, pyyaml); DeepSpeed is optional. See
benchmarks/README.md for a bare machine without network.

    python benchmarks/gpu_check.py                          # CUDA, 0.5B shape, all variants (< 8 min on one H100/H200)
    python benchmarks/gpu_check.py --compile --variants bf16
    python benchmarks/gpu_check.py --device cpu --tiny      # the same code on a CPU in about a minute

Not covered: several GPUs (see tests/test_learner_ranks.py for ranks on CPU), vLLM, gradient
checkpointing (`--gradient-checkpointing` turns it on; MFU then still counts 6 * N).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the repository first; not this folder (benchmarks/rewards.py would hide the `rewards` package)
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

import torch  # noqa: E402

# Dense bfloat16 peak, TFLOP/s, by a substring of torch.cuda.get_device_name() (vendor data sheets).
PEAK_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "H800": 989.0,
    "A100": 312.0,
    "A800": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 125.0,
    "RTX 4090": 165.0,
}

SHAPES = {  # Qwen2.5-0.5B's shape (494M parameters, tied embeddings), and a tiny one for CPUs
    "0.5b": dict(
        vocab_size=151936,
        hidden_size=896,
        num_layers=24,
        num_heads=14,
        num_kv_heads=2,
        head_dim=64,
        intermediate_size=4864,
        max_position_embeddings=4096,
    ),
    "tiny": dict(
        vocab_size=None,
        hidden_size=128,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        head_dim=32,
        intermediate_size=256,
        max_position_embeddings=1024,
    ),
}


def build_model(out: Path, shape: dict, dtype: torch.dtype, device: str) -> Path:
    """A random Qwen2 of `shape` with the toy tokenizer (token ids past its vocabulary decode to
    nothing; the reward reads token ids). Written to `out` in `dtype`."""
    from transformers import AutoModelForCausalLM, GenerationConfig

    from rlsys.toy.tiny import IM_END, build_config, train_tokenizer

    tokenizer = train_tokenizer()
    shape = {**shape, "vocab_size": shape["vocab_size"] or len(tokenizer)}
    config = build_config("qwen2", **shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.convert_tokens_to_ids(IM_END)], pad_token_id=config.pad_token_id
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def even_share(samples) -> list[float]:
    """The reward: the share of even token ids in each completion."""
    return [sum(t % 2 == 0 for t in s.completion_ids) / max(1, len(s.completion_ids)) for s in samples]


def to_train_samples(samples, group_size: int):
    from rlsys.core.batch import advantages
    from rlsys.core.types import TrainSample

    rewards = torch.tensor(even_share(samples))
    adv = advantages(rewards, torch.ones_like(rewards, dtype=torch.bool), group_size, "grpo")
    return [TrainSample(s.prompt_ids, s.completion_ids, a, s.logprobs) for s, a in zip(samples, adv.tolist())]


def packed_tokens(learner, samples) -> int:
    """Tokens the learner runs forward and backward for `samples` (prompts shared or not, as it packs)."""
    from actors.learner import pack, plan_micro_batches

    groups = plan_micro_batches([len(s) for s in samples], learner.cfg.micro_batch_tokens)
    return sum(pack([samples[i] for i in g], learner.share_prompts).input_ids.shape[1] for g in groups)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().float().cpu().clone() for n, p in list(module.named_parameters())[:4]}


def run_variant(name: str, args, model_dir: Path, rollout, prompts: list[str]) -> dict:
    from actors.distributed import free_port
    from actors.learner import Learner
    from rlsys.core.config import LearnerConfig

    learner_dtype = {"bf16": "bfloat16", "deepspeed": "bfloat16", "autocast": "float32"}[name]
    if args.device == "cpu" and name == "bf16":
        learner_dtype = "float32"  # pure bf16 AdamW on a CPU says nothing; keep the check's path
    cfg = LearnerConfig(
        strategy="deepspeed" if name == "deepspeed" else "torch",
        zero_stage=2,
        lr=args.lr,
        micro_batch_tokens=args.micro_batch_tokens,
        logprob_chunk_tokens=args.logprob_chunk_tokens,
        autocast="bfloat16" if name == "autocast" else None,
        gradient_checkpointing=args.gradient_checkpointing,
        compile=args.compile,
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    learner = Learner(
        str(model_dir),
        cfg,
        total_steps=args.steps + args.timed_steps,
        dtype=learner_dtype,
        temperature=1.0,
        master_port=free_port(),
    )
    result: dict = {
        "variant": name,
        "learner_dtype": learner_dtype,
        "device": str(learner.device),
        "varlen_attention": learner.varlen,
        "init_s": time.perf_counter() - start,
        "steps": [],
    }
    before = snapshot(learner.strategy.module)
    try:
        for step in range(1, args.steps + 1):
            t0 = time.perf_counter()
            samples = rollout.generate(prompts)
            gen_s = time.perf_counter() - t0
            batch = to_train_samples(samples, args.samples)
            total = sum(len(s.completion_ids) for s in batch)
            m = learner.train_step(batch, total, len(batch))
            sync_s = rollout.update_weights(learner.export_weights(step))
            result["steps"].append(
                {
                    "step": step,
                    "loss": m["loss"],
                    "grad_norm": m["grad_norm"],
                    "reward": sum(even_share(samples)) / len(samples),
                    "generate_s": gen_s,
                    "train_s": m["time/train_s"],
                    "sync_s": sync_s,
                }
            )
            print(
                f"  [{name}] step {step}: loss {m['loss']:.4g} grad_norm {m['grad_norm']:.3f} "
                f"generate {gen_s:.1f}s train {m['time/train_s']:.2f}s sync {sync_s:.2f}s",
                flush=True,
            )
        after = snapshot(learner.strategy.module)
        result["weights_changed"] = any(not torch.equal(before[k], after[k]) for k in before)
        result["rollout_has_learner_weights"] = same_weights(learner.strategy.module, rollout.backend.model)
        result.update(time_learner(learner, args, vocab=rollout.backend.model.config.vocab_size))
    finally:
        learner.close()
    return result


def same_weights(learner_model, rollout_model) -> bool:
    theirs = dict(rollout_model.named_parameters())
    return all(
        torch.allclose(p.detach().float().cpu(), theirs[n].detach().float().cpu(), atol=1e-2, rtol=1e-2)
        for n, p in list(learner_model.named_parameters())[:4]
    )


def random_samples(n: int, seq_len: int, vocab: int, seed: int = 0):
    """`n` samples of `seq_len` tokens (1/32 prompt), random ids, advantages +-1."""
    from rlsys.core.types import TrainSample

    g = torch.Generator().manual_seed(seed)
    prompt_len = max(1, seq_len // 32)
    out = []
    for i in range(n):
        ids = torch.randint(0, vocab, (seq_len,), generator=g).tolist()
        out.append(
            TrainSample(ids[:prompt_len], ids[prompt_len:], 1.0 if i % 2 else -1.0, [-1.0] * (seq_len - prompt_len))
        )
    return out


def time_learner(learner, args, vocab: int) -> dict:
    """`timed_steps` learner steps on random samples (the first step warms up)."""
    timed = random_samples(max(1, args.timed_batch_tokens // args.timed_seq_len), args.timed_seq_len, vocab)
    tokens = packed_tokens(learner, timed)
    total = sum(len(s.completion_ids) for s in timed)
    times = []
    for _ in range(args.timed_steps):
        if learner.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        m = learner.train_step(timed, total, len(timed))
        if learner.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        assert math.isfinite(m["loss"]) and math.isfinite(m["grad_norm"]), m
    steady = times[1:] or times
    tok_s = tokens / (sum(steady) / len(steady))
    n_params = sum(p.numel() for p in learner.strategy.module.parameters())
    out = {
        "timed_tokens_per_step": tokens,
        "timed_step_s": times,
        "tokens_per_s": tok_s,
        "params": n_params,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if learner.device.type == "cuda" else None,
    }
    peak = args.peak_tflops or peak_tflops()
    out["mfu"] = 6 * n_params * tok_s / (peak * 1e12) if peak else None
    return out


def peak_tflops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def check(results: list[dict]) -> list[str]:
    """What failed, in words (empty: the check passed)."""
    problems = []
    for r in results:
        if r.get("skipped"):
            continue
        v = r["variant"]
        for s in r["steps"]:
            if not (math.isfinite(s["loss"]) and math.isfinite(s["grad_norm"])):
                problems.append(f"{v}: step {s['step']} loss {s['loss']} grad_norm {s['grad_norm']} not finite")
        if not r["weights_changed"]:
            problems.append(f"{v}: the learner's weights did not change")
        if not r["rollout_has_learner_weights"]:
            problems.append(f"{v}: the rollout model does not hold the learner's weights after the sync")
    return problems


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tiny", action="store_true", help="a tiny model and batch (for CPUs and tests)")
    ap.add_argument("--variants", default="bf16,autocast,deepspeed")
    ap.add_argument("--steps", type=int, default=2, help="GRPO steps per variant")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--samples", type=int, default=8, help="samples per prompt")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--micro-batch-tokens", type=int, default=16384)
    ap.add_argument("--logprob-chunk-tokens", type=int, default=4096)
    ap.add_argument("--timed-steps", type=int, default=4)
    ap.add_argument("--timed-batch-tokens", type=int, default=65536, help="tokens per timed learner step")
    ap.add_argument("--timed-seq-len", type=int, default=2048, help="tokens per sample in the timed steps")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak of the card (default: by name)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    if args.tiny:
        for key, value in dict(
            prompts=2,
            samples=4,
            new_tokens=16,
            micro_batch_tokens=256,
            timed_steps=2,
            timed_batch_tokens=512,
            timed_seq_len=128,
            steps=2,
            lr=1e-3,
        ).items():
            if getattr(args, key) == ap.get_default(key):
                setattr(args, key, value)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device; run with --device cpu --tiny", file=sys.stderr)
        return 2
    from actors.rollout import RolloutWorker
    from rlsys.core.config import RolloutConfig

    shape = SHAPES["tiny" if args.tiny else "0.5b"]
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    started = time.perf_counter()
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="rlsys-gpu-check-") as tmp:
        model_dir = build_model(Path(tmp) / "model", shape, dtype, args.device)
        rcfg = RolloutConfig(
            backend="hf",
            samples_per_prompt=args.samples,
            max_new_tokens=args.new_tokens,
            min_new_tokens=args.new_tokens,
            max_model_len=shape["max_position_embeddings"],
            temperature=1.0,
        )
        rollout = RolloutWorker(str(model_dir), rcfg, seed=0, dtype=str(dtype).removeprefix("torch."))
        prompts = [f"Count with me: {' '.join(str(j) for j in range(i, i + 12))}" for i in range(args.prompts)]
        for name in args.variants.split(","):
            if name == "deepspeed" and not deepspeed_available():
                results.append({"variant": name, "skipped": "DeepSpeed is not installed"})
                continue
            print(f"variant {name}", flush=True)
            results.append(run_variant(name, args, model_dir, rollout, prompts))
        rollout.shutdown()
    report(results, args, time.perf_counter() - started)
    problems = check(results)
    for p in problems:
        print(f"FAILED: {p}", file=sys.stderr)
    return 1 if problems else 0


def deepspeed_available() -> bool:
    try:
        import deepspeed  # noqa: F401
    except ImportError:
        return False
    return True


def report(results: list[dict], args, wall_s: float) -> None:
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"\n{device}, torch {torch.__version__}, {wall_s:.0f} s in all")
    print(f"{'variant':<10} {'params':>8} {'tok/step':>9} {'tokens/s':>10} {'MFU':>6} {'peak GiB':>8}  notes")
    for r in results:
        if r.get("skipped"):
            print(f"{r['variant']:<10} skipped: {r['skipped']}")
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
        mem = f"{r['peak_memory_gib']:.1f}" if r.get("peak_memory_gib") is not None else "-"
        notes = f"{r['learner_dtype']}, varlen attention {'on' if r['varlen_attention'] else 'off'}"
        print(
            f"{r['variant']:<10} {r['params'] / 1e6:7.1f}M {r['timed_tokens_per_step']:9d} "
            f"{r['tokens_per_s']:10.0f} {mfu:>6} {mem:>8}  {notes}"
        )
    if args.out:
        Path(args.out).write_text(json.dumps({"device": device, "args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
