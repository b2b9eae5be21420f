"""Mixing data sources by weight, and a deterministic validation split.

Why: Tower+-style CPT and SFT mix many sources (monolingual text per language, parallel data,
instructions) in chosen proportions; the mixture must be reproducible from a seed and must say
exactly what a weight means.

Mixture semantics (`mix_indices`): weights are normalized to sum to 1 and count SAMPLES (rows).
Token shares (`token_mix`) are turned into sample weights first (below). One epoch of the mixture has `num_samples` samples (default: the total number of rows
over all sources). Source s contributes exactly n_s = num_samples * w_s samples, rounded by the
largest-remainder method so the n_s sum to num_samples. Within a source, rows are taken from a
seeded permutation without replacement; a source asked for more rows than it has is reshuffled
and walked again (upsampling: every row is used k or k+1 times), a source asked for fewer gives a
seeded subset (downsampling). The combined list is shuffled with the same seed. A weight of 0
leaves a source out. Different seeds give different epochs; call with seed + epoch for a new one.

Validation split (`split_validation`): a seeded permutation of row indices; the first `count`
(or round(fraction * n), at least 1) are validation. Split each source before mixing so a
validation row can never be upsampled into training.

Token shares (`token_mix`, what a CPT recipe such as Tower+'s "66 % monolingual, 33 % parallel"
means): a web document is tens of times longer than a sentence pair, so equal row weights give the
parallel source a few percent of the tokens. With source s holding `tokens_s` tokens in `sizes_s`
examples (mean length L_s = tokens_s / sizes_s), drawing n_s = w_s * T / L_s examples gives it
n_s * L_s = w_s * T tokens, i.e. a share w_s of the epoch's T tokens. `token_mix` returns sample
weights proportional to w_s / L_s and that epoch size (T = the tokens of the weighted sources, so
one epoch still holds as many tokens as the data). The realized shares match the weights up to
rounding and the spread of lengths within a source (tests/test_pretrain_data.py measures it).

Not covered: temperature sampling over languages (compute the weights, then pass them here),
streaming sources of unknown size, token budgets per optimizer step (a step still takes a fixed
number of examples; packing bounds its tokens).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping


def normalize_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights scaled to sum to 1; each must be finite and >= 0, and at least one > 0."""
    for name, weight in weights.items():
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weight of source {name!r} must be a finite number >= 0, got {weight!r}")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"at least one source weight must be > 0, got {dict(weights)}")
    return {name: weight / total for name, weight in weights.items()}


def mixture_counts(weights: Mapping[str, float], num_samples: int) -> dict[str, int]:
    """Samples per source: num_samples * normalized weight, largest-remainder rounding (ties by name)."""
    shares = {name: w * num_samples for name, w in normalize_weights(weights).items()}
    counts = {name: math.floor(share) for name, share in shares.items()}
    left = num_samples - sum(counts.values())
    by_remainder = sorted(shares, key=lambda name: (-(shares[name] - counts[name]), name))
    for name in by_remainder[:left]:
        counts[name] += 1
    return counts


def token_mix(
    sizes: Mapping[str, int], tokens: Mapping[str, int], token_weights: Mapping[str, float]
) -> tuple[dict[str, float], int]:
    """(sample weights, samples per epoch) that give each source `token_weights` of the tokens.

    `sizes` are examples and `tokens` their total tokens per source; see the module docstring.
    """
    shares = normalize_weights(token_weights)
    weighted = [name for name, share in shares.items() if share > 0]
    for name in weighted:
        if sizes.get(name, 0) <= 0 or tokens.get(name, 0) <= 0:
            raise ValueError(f"source {name!r} has no examples or no tokens but has weight {token_weights[name]}")
    total = sum(tokens[name] for name in weighted)
    per_source = {
        name: shares[name] * total * sizes[name] / tokens[name] if shares[name] > 0 else 0.0 for name in shares
    }
    epoch = max(1, round(sum(per_source.values())))
    return {name: n / epoch for name, n in per_source.items()}, epoch


def _take(size: int, count: int, rng: random.Random) -> list[int]:
    taken: list[int] = []
    while len(taken) < count:
        order = list(range(size))
        rng.shuffle(order)
        taken += order[: count - len(taken)]
    return taken


def mix_indices(
    sizes: Mapping[str, int], weights: Mapping[str, float], *, seed: int, num_samples: int | None = None
) -> list[tuple[str, int]]:
    """One epoch of the mixture as (source name, row index) pairs; see the module docstring."""
    if set(sizes) != set(weights):
        missing, extra = sorted(set(sizes) - set(weights)), sorted(set(weights) - set(sizes))
        raise ValueError(f"sources and weights differ: no weight for {missing}, weight for unknown source {extra}")
    num_samples = sum(sizes.values()) if num_samples is None else num_samples
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    counts = mixture_counts(weights, num_samples)
    mixed: list[tuple[str, int]] = []
    for name in sorted(sizes):
        if counts[name] and sizes[name] <= 0:
            raise ValueError(f"source {name!r} is empty but has weight {weights[name]}")
        rng = random.Random(f"{seed}\x00{name}")
        mixed += [(name, index) for index in _take(sizes[name], counts[name], rng)]
    random.Random(f"{seed}\x00mix").shuffle(mixed)
    return mixed


def split_validation(
    num_rows: int, *, seed: int, fraction: float | None = None, count: int | None = None
) -> tuple[list[int], list[int]]:
    """(train indices, validation indices), both sorted; exactly one of fraction/count."""
    if fraction is not None and count is None:
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        count = max(1, round(fraction * num_rows))
    elif count is None or fraction is not None:
        raise ValueError("give exactly one of fraction or count")
    if not 0 <= count < num_rows:
        raise ValueError(f"validation count must be in [0, {num_rows}) for {num_rows} rows, got {count}")
    order = list(range(num_rows))
    random.Random(f"{seed}\x00validation").shuffle(order)
    return sorted(order[count:]), sorted(order[:count])
