"""Scoring evaluation outputs, task by task; no model needed (rlsys/evaluate.py generates).

Each `score_<task>(rows, outputs, where, ...)` returns a `TaskScore`: flat metrics (named without
the set prefix; evaluate.py adds `<set>/`) and one detail dict per row for samples.jsonl.

- translation: sacrebleu corpus chrF and BLEU (0-100) against `reference` (a string or a list of
  references), overall and per `src_lang-tgt_lang` pair; COMET / CometKiwi means when a QE
  service is given (rlsys/qe_server.py), per pair too. Rows COMET could not score are counted in
  `comet_unscored`, never averaged in as zeros.
- instructions: every constraint checked strictly and loosely (IFEval's two modes):
  `constraint_accuracy` / `prompt_accuracy` (strict; IFEval's instruction- and prompt-level
  accuracy) and the same with `_loose`. Multi-turn rows: the prompt's messages are the
  conversation; `constraints` hold what the last answer must satisfy, and a row's
  `turn_constraints` (per user turn) are passed to the checker that reads them (h3b's
  rewards.instructions.conversation, once merged: until then such rows are an error naming them).
- ifmt: translation with checkable rules: the instruction metrics of its `constraints` (rule
  adherence) plus chrF / BLEU against `reference` where rows have one.
- math: the `math` reward (math-verify) against `answer`; code: the `code` reward (bubblewrap
  sandbox) on `tests`, a problem solved when every test passes. Greedy answers give `accuracy`;
  sampled ones give `pass@k` with the unbiased estimator of Chen et al. (2021),
  1 - C(n-c, k) / C(n, k) per problem, averaged. Samples the reward could not judge (error,
  timeout) are left out of n and counted in `unscored`; a problem with fewer than k judged samples
  is left out of pass@k.

Not covered: document-level translation metrics, COMET per sentence in samples.jsonl (only means),
judge-based scores (rlsys/judge.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rlsys.core.data import DataError


class EvalError(ValueError):
    """Evaluation cannot go on; the message names the set, file or row."""


@dataclass
class TaskScore:
    metrics: dict[str, float]
    per_row: list[dict[str, Any]] = field(default_factory=list)  # one dict per row, for samples.jsonl
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- translation


def references(value: Any, where: str) -> list[str]:
    refs = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else None
    if not refs or not all(isinstance(r, str) for r in refs):
        raise DataError("must be a string or a non-empty list of strings", field="reference", where=where)
    return refs


def _corpus(metric: Any, outputs: list[str], refs: list[list[str]]) -> float:
    """Corpus score; rows with fewer references than others are padded with None (sacrebleu's way)."""
    width = max(len(r) for r in refs)
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(width)]
    return float(metric.corpus_score(outputs, streams).score)


def pair_of(row: dict[str, Any]) -> str | None:
    src, tgt = row.get("src_lang"), row.get("tgt_lang")
    return f"{src}-{tgt}" if isinstance(src, str) and isinstance(tgt, str) else None


def _by_pair(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    pairs: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if pair := pair_of(row):
            pairs.setdefault(pair, []).append(i)
    return dict(sorted(pairs.items()))


def surface_scores(rows: list[dict[str, Any]], outputs: list[str], where: list[str]) -> TaskScore:
    """chrF and BLEU, corpus-level, overall and per language pair (rows need `reference`)."""
    from sacrebleu.metrics import BLEU, CHRF

    chrf, bleu = CHRF(), BLEU()
    sentence_bleu = BLEU(effective_order=True)
    refs = [references(row["reference"], w) for row, w in zip(rows, where, strict=True)]
    metrics = {"chrf": _corpus(chrf, outputs, refs), "bleu": _corpus(bleu, outputs, refs)}
    for pair, idx in _by_pair(rows).items():
        sub_out, sub_refs = [outputs[i] for i in idx], [refs[i] for i in idx]
        metrics[f"chrf/{pair}"] = _corpus(chrf, sub_out, sub_refs)
        metrics[f"bleu/{pair}"] = _corpus(bleu, sub_out, sub_refs)
    per_row = [
        {"chrf": chrf.sentence_score(out, r).score, "bleu": sentence_bleu.sentence_score(out, r).score}
        for out, r in zip(outputs, refs, strict=True)
    ]
    return TaskScore(metrics, per_row)


def comet_scores(rows: list[dict[str, Any]], outputs: list[str], qe: Any) -> TaskScore:
    """Mean COMET (with reference) and CometKiwi (source only) from the QE service, per pair too."""
    metrics: dict[str, float] = {}
    per_row: list[dict[str, Any]] = [{} for _ in rows]
    for name in qe.served:
        idx = [
            i
            for i, r in enumerate(rows)
            if isinstance(r.get("src"), str) and (name == "comet_qe" or r.get("reference") is not None)
        ]
        if not idx:
            continue
        columns = [
            {"src": rows[i]["src"], **({"reference": first_reference(rows[i])} if name == "comet" else {})} for i in idx
        ]
        results = qe.score(name, [outputs[i] for i in idx], columns)
        scored = {i: r.score for i, r in zip(idx, results, strict=True) if r.status == "ok" and r.score is not None}
        for i, r in zip(idx, results, strict=True):
            per_row[i][name] = r.score if r.status == "ok" else f"{r.status}: {r.reason}"
        metrics[f"{name}_unscored"] = float(len(idx) - len(scored))
        if scored:
            metrics[name] = sum(scored.values()) / len(scored)
        for pair, members in _by_pair(rows).items():
            values = [scored[i] for i in members if i in scored]
            if values:
                metrics[f"{name}/{pair}"] = sum(values) / len(values)
    return TaskScore(metrics, per_row)


def first_reference(row: dict[str, Any]) -> str:
    ref = row["reference"]
    return ref if isinstance(ref, str) else ref[0]


def score_translation(rows: list[dict[str, Any]], outputs: list[str], where: list[str], qe: Any = None) -> TaskScore:
    result = surface_scores(rows, outputs, where)
    if qe is not None and qe.available:
        comet = comet_scores(rows, outputs, qe)
        result.metrics.update(comet.metrics)
        for detail, extra in zip(result.per_row, comet.per_row, strict=True):
            detail.update(extra)
    elif qe is not None:
        result.notes.append(qe.note)
    result.metrics["rows"] = float(len(rows))
    return result


# ---------------------------------------------------------------- instructions and IF-MT


def check_row(output: str, row: dict[str, Any], where: str, loose: bool) -> list[bool]:
    """One bool per constraint of the row (constraints, then per-turn ones when the row has them)."""
    from rewards.instructions import ConstraintError, check_constraints

    extra = {"turn_constraints": row["turn_constraints"]} if row.get("turn_constraints") is not None else {}
    try:
        return check_constraints(
            output,
            row.get("constraints") or [],
            prompt=row.get("prompt"),
            src=row.get("src"),
            loose=loose,
            tgt_lang=row.get("tgt_lang"),
            **extra,
        )
    except ConstraintError as exc:
        raise DataError(str(exc), field="constraints", where=where) from None
    except TypeError as exc:
        if extra and "turn_constraints" in str(exc):
            raise DataError(
                "per-turn constraints need rewards.instructions.conversation (not in this version)",
                field="turn_constraints",
                where=where,
            ) from None
        raise


def score_instructions(rows: list[dict[str, Any]], outputs: list[str], where: list[str]) -> TaskScore:
    metrics: dict[str, float] = {}
    per_row: list[dict[str, Any]] = [{} for _ in rows]
    for mode, suffix in (("strict", ""), ("loose", "_loose")):
        satisfied = total = all_met = 0
        for k, (row, out, w) in enumerate(zip(rows, outputs, where, strict=True)):
            passed = check_row(out, row, w, loose=mode == "loose")
            if not passed:
                raise DataError("is empty", field="constraints", where=w)
            satisfied, total, all_met = satisfied + sum(passed), total + len(passed), all_met + all(passed)
            per_row[k]["passed" if mode == "strict" else "passed_loose"] = passed
        metrics[f"constraint_accuracy{suffix}"] = satisfied / total
        metrics[f"prompt_accuracy{suffix}"] = all_met / len(rows)
    metrics["rows"] = float(len(rows))
    return TaskScore(metrics, per_row)


def score_ifmt(rows: list[dict[str, Any]], outputs: list[str], where: list[str], qe: Any = None) -> TaskScore:
    """Rule adherence (the instruction metrics) and translation quality where rows have a reference."""
    result = score_instructions(rows, outputs, where)
    with_ref = [i for i, row in enumerate(rows) if row.get("reference") is not None]
    if with_ref:
        sub = score_translation(
            [rows[i] for i in with_ref], [outputs[i] for i in with_ref], [where[i] for i in with_ref], qe
        )
        result.metrics.update({k: v for k, v in sub.metrics.items() if k != "rows"})
        result.notes += sub.notes
        for i, detail in zip(with_ref, sub.per_row, strict=True):
            result.per_row[i].update(detail)
    return result


# ---------------------------------------------------------------- math and code


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021): 1 - C(n-c,k)/C(n,k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def _reward_results(name: str, outputs: list[str], columns: dict[str, list[Any]]) -> list[Any]:
    from rewards.registry import get_reward
    from rewards.registry import score as run_reward

    return run_reward(get_reward(name), outputs, columns)


def _solved(result: Any, task: str) -> bool | None:
    """True / False for a judged sample, None when the reward could not judge it."""
    if result.status != "ok" or result.score is None:
        return None
    return result.score >= 1.0 if task == "code" else result.score > 0.5


def _columns(task: str, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    if task == "math":
        return {"answer": [str(row["answer"]) for row in rows]}
    return {"tests": [row["tests"] for row in rows], "language": [row.get("language") for row in rows]}


def score_verified(
    task: str,
    rows: list[dict[str, Any]],
    outputs: list[str],
    where: list[str],
    samples: list[list[str]] | None = None,
    ks: Sequence[int] = (1,),
    settings: dict[str, Any] | None = None,
) -> TaskScore:
    """math / code: greedy `accuracy` over judged rows, `pass@k` over `samples` (n per row)."""
    reward = "math" if task == "math" else "code"
    columns = {**_columns(task, rows), **(settings or {})}
    results = _reward_results(reward, outputs, columns)
    verdicts = [_solved(r, task) for r in results]
    judged = [v for v in verdicts if v is not None]
    if not judged:
        raise EvalError(f"{where[0]}: the {reward} reward judged no row; first reason: {results[0].reason}")
    metrics = {
        "accuracy": sum(judged) / len(judged),
        "rows": float(len(rows)),
        "unscored": float(len(rows) - len(judged)),
    }
    per_row = [{"score": r.score, "status": r.status, "reason": r.reason} for r in results]
    if samples is not None:
        metrics.update(_pass_metrics(task, reward, rows, samples, ks, settings, per_row))
    return TaskScore(metrics, per_row)


def _pass_metrics(
    task: str,
    reward: str,
    rows: list[dict[str, Any]],
    samples: list[list[str]],
    ks: Sequence[int],
    settings: dict[str, Any] | None,
    per_row: list[dict[str, Any]],
) -> dict[str, float]:
    flat_rows = [row for row, group in zip(rows, samples, strict=True) for _ in group]
    flat_out = [text for group in samples for text in group]
    results = _reward_results(reward, flat_out, {**_columns(task, flat_rows), **(settings or {})})
    metrics: dict[str, float] = {"samples_unscored": 0.0}
    sums: dict[int, list[float]] = {k: [] for k in ks}
    start = 0
    for detail, group in zip(per_row, samples, strict=True):
        verdicts = [_solved(r, task) for r in results[start : start + len(group)]]
        start += len(group)
        judged = [v for v in verdicts if v is not None]
        metrics["samples_unscored"] += len(verdicts) - len(judged)
        detail["samples_correct"] = f"{sum(judged)}/{len(judged)}"
        for k in ks:
            if len(judged) >= k:
                sums[k].append(pass_at_k(len(judged), sum(judged), k))
    for k, values in sums.items():
        if values:
            metrics[f"pass@{k}"] = sum(values) / len(values)
    metrics["samples_per_prompt"] = float(max(len(g) for g in samples))
    return metrics
