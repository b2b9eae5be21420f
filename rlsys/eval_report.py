"""Evaluation reports: one model's eval.md, and a pipeline's translation-vs-general view.

- `write_report`: eval.json (metrics, notes, settings), samples.jsonl, and eval.md, a report to
  read: a section per eval set (translation per language pair with chrF / BLEU / COMET;
  instructions strict and loose at prompt and instruction level; IF-MT rule adherence next to
  its translation quality; math / code accuracy and pass@k; judge win rate), the notes on what
  was skipped, and a few answers per set.
- `markdown_table`: metrics side by side, one column per model or stage.
- `pareto_points` / `pareto_front` / `regressions`: per stage a translation score and a general
  score (means of metrics on a 0-1 scale, `eval.pareto`), which stages are on the Pareto front,
  and which stage lost more than the configured margin against its input model (the gate).

Not covered: confidence intervals, significance tests between stages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlsys.core.pipeline_config import EvalConfig, ParetoConfig

PERCENT_METRICS = ("chrf", "bleu")
"""Metrics on a 0-100 scale; divided by 100 in the Pareto scores."""


def format_value(name: str, value: float) -> str:
    last = name.rsplit("/", 1)[-1]
    if last in ("rows", "unscored", "invalid", "samples_unscored", "samples_per_prompt") or last.endswith("_unscored"):
        return str(int(value))
    return f"{value:.2f}" if any(f"/{m}" in f"/{name}" for m in PERCENT_METRICS) else f"{value:.3f}"


def markdown_table(columns: dict[str, dict[str, float]]) -> str:
    """A markdown table with one row per metric and one column per model or stage."""
    names = list(dict.fromkeys(name for metrics in columns.values() for name in metrics))
    lines = ["| metric | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for name in names:
        cells = [format_value(name, m[name]) if name in m else "" for m in columns.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- one model's report


def _cell(metrics: dict[str, float], name: str) -> str:
    return format_value(name, metrics[name]) if name in metrics else "-"


def _translation_table(key: str, m: dict[str, float]) -> list[str]:
    pairs = sorted({name.split("/")[-1] for name in m if name.startswith(f"{key}/chrf/")})
    cols = [c for c in ("chrf", "bleu", "comet", "comet_qe") if f"{key}/{c}" in m]
    titles = {"chrf": "chrF", "bleu": "BLEU", "comet": "COMET", "comet_qe": "CometKiwi (QE)"}
    lines = ["| pair | " + " | ".join(titles[c] for c in cols) + " |", "|---|" + "---:|" * len(cols)]
    lines.append("| all | " + " | ".join(_cell(m, f"{key}/{c}") for c in cols) + " |")
    lines += ["| " + p + " | " + " | ".join(_cell(m, f"{key}/{c}/{p}") for c in cols) + " |" for p in pairs]
    return lines


def _instruction_table(key: str, m: dict[str, float], label: str) -> list[str]:
    return [
        f"| {label} | strict | loose |",
        "|---|---:|---:|",
        f"| prompt level (every {label.split()[0]} met) | {_cell(m, f'{key}/prompt_accuracy')} | "
        f"{_cell(m, f'{key}/prompt_accuracy_loose')} |",
        f"| {label} level | {_cell(m, f'{key}/constraint_accuracy')} | {_cell(m, f'{key}/constraint_accuracy_loose')} |",
    ]


def _section(key: str, task: str, m: dict[str, float]) -> list[str]:
    rows = int(m.get(f"{key}/rows", 0))
    lines = [f"## {key} ({rows} rows)", ""]
    if task == "translation":
        lines += _translation_table(key, m)
    elif task in ("instructions", "ifmt"):
        lines += _instruction_table(key, m, "rule" if task == "ifmt" else "instruction")
        if task == "ifmt" and f"{key}/chrf" in m:
            lines += ["", "Translation quality of the same answers:", ""] + _translation_table(key, m)
    elif task in ("math", "code"):
        ks = sorted((name.split("@")[1] for name in m if name.startswith(f"{key}/pass@")), key=int)
        cols = ["accuracy", *(f"pass@{k}" for k in ks), "unscored"]
        lines += [
            "| " + " | ".join(["greedy accuracy", *cols[1:]]) + " |",
            "|" + "---:|" * len(cols),
            "| " + " | ".join(_cell(m, f"{key}/{c}") for c in cols) + " |",
        ]
        if ks:
            lines += [
                "",
                f"pass@k: unbiased estimate from {_cell(m, f'{key}/samples_per_prompt')} sampled answers per problem.",
            ]
    elif task == "judge":
        lines += [
            "| win rate vs baseline | invalid games |",
            "|---:|---:|",
            f"| {_cell(m, f'{key}/win_rate')} | {_cell(m, f'{key}/invalid')} |",
        ]
    return lines + [""]


def _last_user(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m.get("role") == "user"]
    return users[-1] if users else ""


def _examples(records: list[dict[str, Any]], per_set: int = 2) -> list[str]:
    lines = ["## Examples", ""]
    seen: dict[str, int] = {}
    for r in records:
        if seen.get(r["set"], 0) >= per_set:
            continue
        seen[r["set"]] = seen.get(r["set"], 0) + 1
        detail = {k: v for k, v in r.items() if k not in ("set", "where", "prompt", "output", "samples")}
        prompt = _last_user(r["prompt"]).replace("\n", " ")[:200]
        lines += [
            f"- **{r['set']}** ({r['where']}): {prompt!r}",
            f"  - answer: {r['output'][:200]!r}",
            f"  - scores: `{json.dumps(detail, ensure_ascii=False)[:300]}`",
        ]
    return lines + [""]


def render_report(
    model_dir: str, metrics: dict[str, float], records: list[dict[str, Any]], cfg: EvalConfig, notes: list[str]
) -> str:
    how = f"Backend `{cfg.backend}`, greedy answers (temperature 0)"
    if cfg.samples_per_prompt > 1:
        how += f"; pass@k from {cfg.samples_per_prompt} answers per math/code problem sampled at temperature {cfg.temperature}"
    lines = [
        f"# Evaluation of `{model_dir}`",
        "",
        how + ". chrF and BLEU 0-100, COMET as the model gives it, accuracies and rates 0-1.",
        "",
    ]
    for key in cfg.data:
        if f"{key}/rows" in metrics:
            lines += _section(key, key.partition(":")[0], metrics)
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    lines += _examples(records)
    lines += ["## All metrics", "", markdown_table({Path(model_dir).name or str(model_dir): metrics})]
    return "\n".join(lines)


def write_report(
    out_dir: str | Path,
    metrics: dict[str, float],
    records: list[dict[str, Any]],
    *,
    model_dir: str,
    cfg: EvalConfig,
    notes: list[str] | None = None,
) -> Path:
    """`eval.json` (metrics, notes, settings), `eval.md` (the report) and `samples.jsonl`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "model": str(model_dir),
        "metrics": metrics,
        "notes": list(notes or []),
        "config": cfg.model_dump(mode="json"),
    }
    (out / "eval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "eval.md").write_text(render_report(model_dir, metrics, records, cfg, list(notes or [])), encoding="utf-8")
    lines = (json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    (out / "samples.jsonl").write_text("".join(lines), encoding="utf-8")
    return out


# ---------------------------------------------------------------- translation vs general (pipelines)


def default_metrics(metrics: dict[str, float]) -> tuple[list[str], list[str]]:
    """The Pareto axes' metrics when `eval.pareto` names none (see ParetoConfig)."""
    translation, general = [], []
    for name in metrics:
        parts = name.split("/")
        if len(parts) != 2:
            continue
        task = parts[0].partition(":")[0]
        if task == "translation" and parts[1] == "chrf":
            translation.append(name)
        elif (
            (task == "instructions" and parts[1] == "prompt_accuracy")
            or (task in ("math", "code") and parts[1] == "accuracy")
            or (task == "judge" and parts[1] == "win_rate")
        ):
            general.append(name)
    return translation, general


def _unit(name: str, value: float) -> float:
    return value / 100 if name.rsplit("/", 1)[-1] in PERCENT_METRICS else value


def axis_scores(metrics: dict[str, float], cfg: ParetoConfig) -> tuple[float | None, float | None]:
    """(translation score, general score) of one stage's metrics; None where no metric is there."""
    auto_t, auto_g = default_metrics(metrics)
    out = []
    for names in (cfg.translation_metrics or auto_t, cfg.general_metrics or auto_g):
        values = [_unit(n, metrics[n]) for n in names if n in metrics]
        out.append(sum(values) / len(values) if values else None)
    return out[0], out[1]


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """True for each point no other point beats on both axes (>= on both, > on one)."""
    return [not any(o[0] >= p[0] and o[1] >= p[1] and o != p for o in points) for p in points]


def regressions(points: list[tuple[float | None, float | None]], cfg: ParetoConfig) -> list[list[str]]:
    """Per stage, the gate's flags against the previous stage (its input model)."""
    flags: list[list[str]] = [[]]
    for prev, cur in zip(points, points[1:]):
        found = []
        for axis, i, margin in (("translation", 0, cfg.max_translation_drop), ("general", 1, cfg.max_general_drop)):
            before, after = prev[i], cur[i]
            if before is not None and after is not None and before - after > margin:
                found.append(f"{axis} -{before - after:.3f} (margin {margin})")
        flags.append(found)
    return flags
