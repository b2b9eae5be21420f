"""From scored samples to a training batch: rewards, advantages, filtering, metrics.

Pure functions of the step's samples and reward results, tested without any worker.
"""
from __future__ import annotations

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
    rewards = torch.tensor([r.score if r.status == "ok" else (float("nan") if skip else 0.0) for r in results],
                           dtype=torch.float32)
    return rewards, known


def advantages(rewards: torch.Tensor, valid: torch.Tensor, group_size: int, estimator: str) -> torch.Tensor:
    """Group advantages over the known rewards only; unknown ones get 0."""
    return algorithms.compute_advantages(estimator, rewards, group_size, valid=valid)


def build_batch(samples: list[Sample], results: list[Any], cfg: RLConfig) -> tuple[list[TrainSample], dict[str, float]]:
    n = cfg.rollout.samples_per_prompt
    rewards, known = reward_values(results, cfg.rewards.on_failure)
    adv = advantages(rewards, known, n, cfg.algorithm.type)
    zero_var = algorithms.group_zero_variance(rewards, n, valid=known)
    keep = known.clone()  # failed rewards under `skip` never enter the loss
    if cfg.algorithm.zero_variance_groups == "skip":
        keep &= ~zero_var.repeat_interleave(n)
    batch = [
        TrainSample(s.prompt_ids, s.completion_ids, float(a), s.logprobs)
        for s, a, k in zip(samples, adv.tolist(), keep.tolist())
        if k and s.completion_ids
    ]
    metrics = reward_metrics(results)
    lengths = torch.tensor([len(s.completion_ids) for s in samples], dtype=torch.float32)
    metrics.update({
        "completion/len_mean": float(lengths.mean()),
        "completion/len_max": float(lengths.max()),
        "completion/truncated_frac": sum(s.finish_reason == "length" for s in samples) / len(samples),
        "groups/zero_variance": int(zero_var.sum()),
        "groups/total": len(zero_var),
        "batch/samples_trained": len(batch),
        "weight_version/min_sampled": min(s.weight_version for s in samples),
    })
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
    """Ranks normalize by the global token count, so token-averaged values add up."""
    summed = ("loss", "entropy", "kl", "clip_fraction", "logprob_diff_rollout", "tokens")
    out = {k: sum(m.get(k, 0.0) for m in per_rank) for k in summed}
    out["grad_norm"] = per_rank[0]["grad_norm"]
    out["lr"] = per_rank[0]["lr"]
    out["time/train_s"] = max(m["time/train_s"] for m in per_rank)
    return out
