"""The curation report: where the prompts and candidates went, and how the scores are spread.

`build_report` returns a JSON-able dict (report.json); `render_markdown` the same as report.md:
- counts: prompts read, duplicates dropped, candidates per model and reward status, candidates
  per filter that stopped them (per domain);
- score distributions per domain: every judged candidate, the best per prompt, and the
  chosen - rejected margin of pairs (mean, min, p10, p50, p90, max, and a 10-bin histogram);
- per model: mean score and how often it gave the chosen answer (several systems);
- the output mix: SFT rows and pairs per domain before and after the quota.

Not covered: plots (the histograms are text), per-source breakdowns beyond the domain.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rlsys.curate_select import quantiles

BINS = 10


def histogram(values: list[float], bins: int = BINS) -> dict[str, Any]:
    """Counts in `bins` equal bins between the smallest and largest value."""
    if not values:
        return {"edges": [], "counts": []}
    low, high = min(values), max(values)
    if 0 <= low and high <= 1:  # rewards on a 0-1 scale: the same bins in every report
        low, high = 0.0, 1.0
    elif low == high:
        return {"edges": [low, high], "counts": [len(values)]}
    width = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / width))] += 1
    return {"edges": [low + i * width for i in range(bins + 1)], "counts": counts}


def _dist(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), **quantiles(values), "histogram": histogram(values)}


def build_report(
    prompts: list[dict[str, Any]],
    by_prompt: dict[int, list[dict[str, Any]]],
    counts: dict[str, Any],
    models: list[str],
    sft_rows: list[dict],
    pairs: list[dict],
    kept_sft: list[dict],
    kept_pairs: list[dict],
    sft_mix: dict[str, int],
    pair_mix: dict[str, int],
) -> dict[str, Any]:
    domains: dict[str, dict[str, Any]] = {}
    per_model = {m: {"candidates": 0, "judged": 0, "score_sum": 0.0, "chosen": 0} for m in models}
    statuses: Counter = Counter()
    for i, prompt in enumerate(prompts):
        d = domains.setdefault(
            prompt["domain"], {"prompts": 0, "candidates": 0, "filtered": Counter(), "scores": [], "best": []}
        )
        d["prompts"] += 1
        group = by_prompt.get(i, [])
        d["candidates"] += len(group)
        for c in group:
            statuses[c["status"]] += 1
            stats = per_model[c["model"]]
            stats["candidates"] += 1
            if c["score"] is not None:
                d["scores"].append(c["score"])
                stats["judged"] += 1
                stats["score_sum"] += c["score"]
            if c.get("filtered"):
                d["filtered"][c["filtered"]] += 1
        passing = [c["score"] for c in group if c.get("filtered") is None]
        if passing:
            d["best"].append(max(passing))
    for pair in pairs:
        per_model[pair["chosen_model"]]["chosen"] += 1
    out_domains = {}
    for name, d in sorted(domains.items()):
        margins = [p["score_chosen"] - p["score_rejected"] for p in pairs if p["domain"] == name]
        out_domains[name] = {
            "prompts": d["prompts"],
            "candidates": d["candidates"],
            "filtered": dict(d["filtered"]),
            "scores": _dist(d["scores"]),
            "best_per_prompt": _dist(d["best"]),
            "pair_margins": _dist(margins),
            "sft_rows": sum(r["domain"] == name for r in sft_rows),
            "sft_rows_kept": sft_mix.get(name, 0),
            "pairs": sum(p["domain"] == name for p in pairs),
            "pairs_kept": pair_mix.get(name, 0),
        }
    model_stats = {
        m: {
            "candidates": s["candidates"],
            "judged": s["judged"],
            "mean_score": s["score_sum"] / s["judged"] if s["judged"] else None,
            "chosen_in_pairs": s["chosen"],
        }
        for m, s in per_model.items()
    }
    return {
        "prompts": counts,
        "statuses": dict(statuses),
        "domains": out_domains,
        "models": model_stats,
        "outputs": {"sft_rows": len(kept_sft), "pairs": len(kept_pairs), "sft_mix": sft_mix, "pair_mix": pair_mix},
    }


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _bars(hist: dict[str, Any], width: int = 30) -> list[str]:
    if not hist["counts"]:
        return ["(no values)"]
    top = max(hist["counts"]) or 1
    return [
        f"{hist['edges'][i]:7.3f} .. {hist['edges'][i + 1]:7.3f} | {'#' * round(width * c / top):<{width}} {c}"
        for i, c in enumerate(hist["counts"])
    ]


def render_markdown(report: dict[str, Any]) -> str:
    p, o = report["prompts"], report["outputs"]
    dup = ", ".join(f"{n} {kind}" for kind, n in p.get("duplicates", {}).items()) or "none"
    lines = [
        "# Curation report",
        "",
        f"Prompts read: {p['read']}; duplicates dropped: {dup}; curated: {p['kept']}.",
        f"Candidate statuses: {', '.join(f'{k} {v}' for k, v in sorted(report['statuses'].items()))}.",
        f"Written: {o['sft_rows']} SFT rows ({_mix(o['sft_mix'])}), {o['pairs']} pairs ({_mix(o['pair_mix'])}).",
        "",
        "## Per domain",
        "",
        "| domain | prompts | candidates | filtered out | best score p50 | SFT rows (kept) | pairs (kept) | margin p50 |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for name, d in report["domains"].items():
        filtered = ", ".join(f"{k} {v}" for k, v in sorted(d["filtered"].items())) or "-"
        lines.append(
            f"| {name} | {d['prompts']} | {d['candidates']} | {filtered} | {_num(d['best_per_prompt'].get('p50'))} | "
            f"{d['sft_rows']} ({d['sft_rows_kept']}) | {d['pairs']} ({d['pairs_kept']}) | "
            f"{_num(d['pair_margins'].get('p50'))} |"
        )
    lines += [
        "",
        "## Per model",
        "",
        "| model | candidates | judged | mean score | chosen in pairs |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {m} | {s['candidates']} | {s['judged']} | {_num(s['mean_score'])} | {s['chosen_in_pairs']} |"
        for m, s in report["models"].items()
    ]
    for name, d in report["domains"].items():
        for what, title in (("scores", "all judged candidates"), ("best_per_prompt", "best answer per prompt")):
            dist = d[what]
            stats = ", ".join(f"{k} {_num(dist[k])}" for k in ("mean", "p10", "p50", "p90") if k in dist)
            lines += [
                "",
                f"### {name}: {title} (n={dist['n']}; {stats or 'no values'})",
                "",
                "```",
                *_bars(dist["histogram"]),
                "```",
            ]
    return "\n".join(lines) + "\n"


def _mix(mix: dict[str, int]) -> str:
    return (
        ", ".join(
            f"{d} {n}" + (" (none kept: left out of the quota)" if n == 0 else "") for d, n in sorted(mix.items())
        )
        or "none"
    )
