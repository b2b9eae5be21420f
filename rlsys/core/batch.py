"""From scored samples to a training batch: rewards, advantages, filtering, metrics.

Pure functions of the step's samples and reward results, tested without any worker: failed
rewards leave their group's statistics (`rewards.on_failure: skip`), DAPO's overlong penalty
or mask, zero-variance groups, the dynamic-sampling cut (the refill itself is the driver's),
and the merge of the learner ranks' metrics. Not here: anything that needs the model.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import torch

from rlsys.core import algorithms
from rlsys.core.config import RLConfig
from rlsys.core.types import Sample, TrainSample


def reward_values(results: list[Any], on_failure: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(reward per sample, known mask). A failed sample is unknown (NaN) under `skip` and
    scored 0 (known) under `zero`."""
    skip = on_failure == "skip"
    known = torch.tensor([r.status == "ok" or not skip for r in results], dtype=torch.bool)
    rewards = torch.tensor(
        [r.score if r.status == "ok" else (float("nan") if skip else 0.0) for r in results], dtype=torch.float32
    )
    return rewards, known


def advantages(rewards: torch.Tensor, valid: torch.Tensor, group_size: int, estimator: str) -> torch.Tensor:
    """Group advantages over the known rewards only; unknown ones get 0."""
    return algorithms.compute_advantages(estimator, rewards, group_size, valid=valid)


def shaped_rewards(
    samples: list[Sample], results: list[Any], cfg: RLConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(rewards the advantages are computed from, known mask, overlong penalty or None): the
    task rewards plus DAPO's overlong penalty when `algorithm.overlong.mode` is `penalty`."""
    rewards, known = reward_values(results, cfg.rewards.on_failure)
    if cfg.algorithm.overlong.mode != "penalty":
        return rewards, known, None
    lengths = torch.tensor([len(s.completion_ids) for s in samples])
    penalty = algorithms.overlong_penalty(
        lengths, max_tokens=cfg.rollout.max_new_tokens, buffer_tokens=cfg.overlong_buffer_tokens
    )
    penalty = penalty * cfg.algorithm.overlong.penalty_factor
    return torch.where(known, rewards + penalty, rewards), known, penalty


def group_signal(samples: list[Sample], results: list[Any], cfg: RLConfig) -> torch.Tensor:
    """Bool [n_groups]: True where the group's known (shaped) rewards differ, i.e. it can teach."""
    rewards, known, _ = shaped_rewards(samples, results, cfg)
    return ~algorithms.group_zero_variance(rewards, cfg.rollout.samples_per_prompt, valid=known)


def build_batch(
    samples: list[Sample], results: list[Any], cfg: RLConfig, *, max_groups: int | None = None
) -> tuple[list[TrainSample], dict[str, float]]:
    """Training samples and the step's metrics. A sample enters the loss when its reward is
    known, its group has signal (unless `zero_variance_groups: keep`), it is not truncated
    under `overlong.mode: mask`, and its group is among the first `max_groups` with signal
    (dynamic sampling; surplus and missing groups are counted)."""
    n = cfg.rollout.samples_per_prompt
    rewards, known, penalty = shaped_rewards(samples, results, cfg)
    adv = advantages(rewards, known, n, cfg.algorithm.type)
    zero_var = algorithms.group_zero_variance(rewards, n, valid=known)
    keep = known.clone()  # failed rewards under `skip` never enter the loss
    if cfg.algorithm.zero_variance_groups == "skip":
        keep &= ~zero_var.repeat_interleave(n)
    metrics = reward_metrics(results)
    if max_groups is not None:
        signal = (~zero_var).nonzero().flatten()
        in_step = torch.zeros_like(zero_var)
        in_step[signal[:max_groups]] = True
        keep &= in_step.repeat_interleave(n)
        metrics["dynamic_sampling/surplus_groups"] = max(0, len(signal) - max_groups)
        metrics["dynamic_sampling/short_groups"] = max(0, max_groups - len(signal))
    truncated = torch.tensor([s.finish_reason == "length" for s in samples])
    if cfg.algorithm.overlong.mode == "mask":
        metrics["overlong/masked"] = int((keep & truncated).sum())
        keep &= ~truncated
    if penalty is not None:
        metrics["overlong/penalty_mean"] = float(penalty[known].mean()) if known.any() else float("nan")
    batch = [
        TrainSample(s.prompt_ids, s.completion_ids, float(a), s.logprobs)
        for s, a, k in zip(samples, adv.tolist(), keep.tolist())
        if k and s.completion_ids
    ]
    lengths = torch.tensor([len(s.completion_ids) for s in samples], dtype=torch.float32)
    metrics.update(
        {
            "completion/len_mean": float(lengths.mean()),
            "completion/len_max": float(lengths.max()),
            "completion/truncated_frac": float(truncated.float().mean()),
            "groups/zero_variance": int(zero_var.sum()),
            "groups/total": len(zero_var),
            "groups/trained": int(keep.view(-1, n).any(dim=1).sum()),
            "batch/samples_trained": len(batch),
            "weight_version/min_sampled": min(s.weight_version for s in samples),
        }
    )
    return batch, metrics


def reward_metrics(results: list[Any]) -> dict[str, float]:
    """Mean and status counts overall and per reward name; accuracy = share of ok scores >= 1."""
    out: dict[str, float] = {}
    ok = [r.score for r in results if r.status == "ok"]
    out["reward/mean"] = sum(ok) / len(ok) if ok else float("nan")
    out["accuracy"] = sum(s >= 1.0 for s in ok) / len(results)
    for status, count in Counter(r.status for r in results).items():
        out[f"reward/status/{status}"] = count
    per_name: dict[str, list[Any]] = {}
    for r in results:
        for name, part in r.rewards.items():
            per_name.setdefault(name, []).append(part)
    for name, parts in per_name.items():
        scores = [p.score for p in parts if p.status == "ok"]
        out[f"reward/{name}/mean"] = sum(scores) / len(scores) if scores else float("nan")
        for status, count in Counter(p.status for p in parts).items():
            out[f"reward/{name}/{status}"] = count
    return out


def merge_learner_metrics(per_rank: list[dict[str, float]]) -> dict[str, float]:
    """One set of learner metrics from every rank's.

    Ranks normalize their sums by the global token count, so token-averaged values add up;
    gradient norm and learning rate are global; the rollout ratio's min / max are exact over
    ranks, its quantiles are each rank's averaged weighted by its tokens (exact on one rank).
    """
    first = ("grad_norm", "lr")
    extremes = {"time/train_s": max, "rollout_is/ratio_max": max, "rollout_is/ratio_min": min}
    quantiles = ("rollout_is/ratio_p05", "rollout_is/ratio_p50", "rollout_is/ratio_p95")
    keys = {k for m in per_rank for k in m}
    out = {k: per_rank[0][k] for k in first}
    for k in keys - set(first) - set(extremes) - set(quantiles):
        out[k] = sum(m.get(k, 0.0) for m in per_rank)
    for k, pick in extremes.items():
        values = [m[k] for m in per_rank if k in m and not math.isnan(m[k])]
        if k in keys:
            out[k] = pick(values) if values else float("nan")
    tokens = [m.get("tokens", 0.0) for m in per_rank]
    for k in quantiles:
        parts = [(m[k], t) for m, t in zip(per_rank, tokens) if k in m and t > 0 and not math.isnan(m[k])]
        if k in keys:
            out[k] = sum(v * t for v, t in parts) / sum(t for _, t in parts) if parts else float("nan")
    return out
