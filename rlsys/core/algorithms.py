"""RL algorithms as pure tensor functions: advantages, policy losses, KL estimators, log-probs.

Why: the learner, the tests and anyone reading the maths should find every formula in one
place, free of model, optimizer and distributed state. Everything here takes tensors and
returns tensors; names in the config pick entries of small registries that refuse duplicates
(`ADVANTAGES`, `POLICY_LOSSES`, `KL_ESTIMATORS`, `AGGREGATIONS`).

Conventions
- Rewards are 1-D and group-contiguous: B = n_prompts * group_size, the samples of prompt i
  are rows [i * group_size, (i + 1) * group_size).
- Token tensors are [N, T] (rows, positions); `mask` is bool or 0/1 (nonzero counts as 1) and
  marks the completion tokens that count. Values under a false mask are never read: they may
  be NaN or inf (padding) without leaking NaN into losses or gradients.
- Log-probabilities are computed in float32 (or float64 if the logits are float64).

Not covered here (the learner's job): model-specific logit transforms (Gemma-2 soft-capping)
before `token_logprobs`, loss scaling across micro-batches / data-parallel ranks (each aggregation
normalizes within the tensors it is given), dropping zero-variance groups, and optimizer
steps. Not implemented: dual-clip PPO, CISPO, RLOO / REINFORCE++ advantages (register them with
the decorators below).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

AdvantageFn = Callable[..., Tensor]
PolicyLossFn = Callable[..., tuple[Tensor, dict[str, Tensor]]]

ADVANTAGES: dict[str, AdvantageFn] = {}
POLICY_LOSSES: dict[str, PolicyLossFn] = {}

# exp() of a log-ratio beyond this overflows float32 quickly; both PPO ratios and KL
# estimators clamp log-ratios here (as verl does), which zeroes the gradient beyond it.
MAX_LOG_RATIO = 20.0


def _register(registry: dict[str, Callable], kind: str, name: str) -> Callable[[Callable], Callable]:
    def decorator(fn: Callable) -> Callable:
        if name in registry:
            raise ValueError(f"{kind} {name!r} is already registered (by {registry[name].__qualname__})")
        registry[name] = fn
        return fn

    return decorator


def _lookup(registry: dict[str, Callable], kind: str, name: str) -> Callable:
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; registered: {sorted(registry)}")
    return registry[name]


def register_advantage(name: str) -> Callable[[AdvantageFn], AdvantageFn]:
    """Register `fn(rewards[B], group_size, *, valid, eps) -> advantages[B]` under `name`.

    `valid` [B] bool (or None: all known) marks the known rewards: an estimator computes its
    group statistics over those only and returns 0 for the others (`_grouped` does the checks).
    """
    return _register(ADVANTAGES, "advantage estimator", name)


def register_policy_loss(name: str) -> Callable[[PolicyLossFn], PolicyLossFn]:
    """Register `fn(logp, old_logp, advantages, mask, *, clip_low, clip_high, agg, max_tokens,
    weights) -> (loss, metrics)`; `weights` [N, T] or None multiply the per-token losses."""
    return _register(POLICY_LOSSES, "policy loss", name)


# ----------------------------------------------------------------------------- advantages


def _grouped(rewards: Tensor, group_size: int, valid: Tensor | None) -> tuple[Tensor, Tensor]:
    """Rewards [B] -> ([n_prompts, group_size] float, valid mask of the same shape), checked.

    Rewards under a false `valid` are never read (a failed reward may be NaN); a known reward
    must be finite.
    """
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D [B], got shape {tuple(rewards.shape)}")
    if group_size < 1 or rewards.numel() % group_size != 0:
        raise ValueError(f"rewards has {rewards.numel()} rows, not a multiple of group_size={group_size}")
    if valid is None:
        valid = torch.ones_like(rewards, dtype=torch.bool)
    elif valid.shape != rewards.shape:
        raise ValueError(f"valid shape {tuple(valid.shape)} != rewards shape {tuple(rewards.shape)}")
    valid = valid if valid.dtype == torch.bool else valid != 0
    bad = (valid & ~torch.isfinite(rewards)).nonzero().flatten()
    if bad.numel():
        raise ValueError(
            f"rewards are NaN/inf at rows {bad.tolist()[:10]}; a failed reward needs a status"
            " (valid=False), not a number"
        )
    values = rewards if rewards.is_floating_point() else rewards.float()
    values = torch.where(valid, values, torch.zeros((), dtype=values.dtype))
    return values.view(-1, group_size), valid.view(-1, group_size)


def _group_mean(groups: Tensor, valid: Tensor) -> Tensor:
    """Mean of each group's known rewards [n, 1] (0 for a group with none)."""
    return groups.sum(dim=1, keepdim=True) / valid.sum(dim=1, keepdim=True).clamp(min=1)


def compute_advantages(
    name: str, rewards: Tensor, group_size: int, *, valid: Tensor | None = None, eps: float = 1e-6
) -> Tensor:
    """Advantages [B] for group-contiguous `rewards` [B] with the estimator registered as `name`.

    `valid` [B] (bool) marks the known rewards; the others (failed rewards) are left out of
    their group's statistics and get advantage 0. None: every reward is known.
    """
    return _lookup(ADVANTAGES, "advantage estimator", name)(rewards, group_size, valid=valid, eps=eps)


@register_advantage("grpo")
def grpo_advantages(rewards: Tensor, group_size: int, *, valid: Tensor | None = None, eps: float = 1e-6) -> Tensor:
    """(r - group mean) / (group std + eps) over each group's known rewards, std unbiased
    (Bessel, torch default) as in TRL.

    A zero-variance group gives 0 / eps = 0 (not NaN); so does a group with fewer than two
    known rewards (one reward has no baseline). Needs group_size >= 2.
    """
    if group_size < 2:
        raise ValueError(f"grpo advantages need group_size >= 2 (unbiased std), got {group_size}")
    groups, known = _grouped(rewards, group_size, valid)
    mean = _group_mean(groups, known)
    dev = torch.where(known, groups - mean, torch.zeros((), dtype=groups.dtype))
    var = dev.square().sum(dim=1, keepdim=True) / (known.sum(dim=1, keepdim=True) - 1).clamp(min=1)
    return (dev / (var.sqrt() + eps)).flatten()


@register_advantage("dr_grpo")
def dr_grpo_advantages(rewards: Tensor, group_size: int, *, valid: Tensor | None = None, eps: float = 1e-6) -> Tensor:
    """r - mean of the group's known rewards: Dr. GRPO drops the std normalization (its
    question-difficulty bias). `eps` is accepted for a uniform signature and unused.
    """
    groups, known = _grouped(rewards, group_size, valid)
    return torch.where(known, groups - _group_mean(groups, known), torch.zeros((), dtype=groups.dtype)).flatten()


def group_zero_variance(rewards: Tensor, group_size: int, *, valid: Tensor | None = None) -> Tensor:
    """Bool [n_prompts]: True where the group carries no learning signal: its known rewards are
    all equal (vacuously so with fewer than two known rewards)."""
    groups, known = _grouped(rewards, group_size, valid)
    big = torch.finfo(groups.dtype).max
    high = torch.where(known, groups, torch.full((), -big, dtype=groups.dtype)).amax(dim=1)
    low = torch.where(known, groups, torch.full((), big, dtype=groups.dtype)).amin(dim=1)
    return (known.sum(dim=1) < 2) | (high == low)


# ----------------------------------------------------------------------------- aggregation


def _as_bool(mask: Tensor, like: Tensor, what: str = "values") -> Tensor:
    if mask.shape != like.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} != {what} shape {tuple(like.shape)}")
    return mask if mask.dtype == torch.bool else mask != 0


def _token_mean(masked: Tensor, mask: Tensor, max_tokens: int | None) -> Tensor:
    """Sum over all counted tokens / number of counted tokens (DAPO token-level)."""
    return masked.sum() / mask.sum().clamp(min=1)


def _seq_mean(per_seq: Tensor, mask: Tensor) -> Tensor:
    """Mean over rows that have at least one counted token (empty rows are padding or filtered)."""
    return per_seq.sum() / mask.any(dim=-1).sum().clamp(min=1)


def _seq_mean_token_mean(masked: Tensor, mask: Tensor, max_tokens: int | None) -> Tensor:
    """Per-row token mean, then mean over rows (GRPO paper's sequence-level loss)."""
    return _seq_mean(masked.sum(dim=-1) / mask.sum(dim=-1).clamp(min=1), mask)


def _seq_mean_token_sum_norm(masked: Tensor, mask: Tensor, max_tokens: int | None) -> Tensor:
    """Per-row token sum / constant max_tokens, then mean over rows (Dr. GRPO)."""
    if max_tokens is None or max_tokens <= 0:
        raise ValueError(f"agg 'seq_mean_token_sum_norm' needs max_tokens > 0 (generation limit), got {max_tokens}")
    return _seq_mean(masked.sum(dim=-1) / max_tokens, mask)


AGGREGATIONS: dict[str, Callable[[Tensor, Tensor, int | None], Tensor]] = {
    "token_mean": _token_mean,
    "seq_mean_token_mean": _seq_mean_token_mean,
    "seq_mean_token_sum_norm": _seq_mean_token_sum_norm,
}


def aggregate(values: Tensor, mask: Tensor, agg: str, max_tokens: int | None = None) -> Tensor:
    """Reduce per-token `values` [N, T] under `mask` to a scalar with the mode named `agg`.

    Rows with no counted token contribute nothing and are left out of the row count of the
    `seq_*` modes; an all-false mask gives 0 (still differentiable), never NaN.
    """
    reduce = _lookup(AGGREGATIONS, "aggregation", agg)
    mask = _as_bool(mask, values)
    masked = torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device))
    return reduce(masked, mask, max_tokens)


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    return aggregate(values, mask, "token_mean")


# ----------------------------------------------------------------------------- KL


def _k1(logp: Tensor, ref_logp: Tensor) -> Tensor:
    return logp - ref_logp


def _k2(logp: Tensor, ref_logp: Tensor) -> Tensor:
    return 0.5 * (logp - ref_logp).square()


def _k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    log_r = (ref_logp - logp).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    return log_r.exp() - log_r - 1


KL_ESTIMATORS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"k1": _k1, "k2": _k2, "k3": _k3}


def kl_penalty(logp: Tensor, ref_logp: Tensor, kind: str) -> Tensor:
    """Per-token estimate of KL(policy || ref) for tokens sampled from the policy.

    With r = p_ref / p_policy at the sampled token (Schulman, "Approximating KL divergence"):
    k1 = -log r (unbiased, can be negative), k2 = 0.5 (log r)^2 (biased, low variance),
    k3 = r - 1 - log r (unbiased, >= 0; log r clamped to +-MAX_LOG_RATIO).
    Aggregate the result with `aggregate(..., mask, agg)`.
    """
    if logp.shape != ref_logp.shape:
        raise ValueError(f"logp shape {tuple(logp.shape)} != ref_logp shape {tuple(ref_logp.shape)}")
    return _lookup(KL_ESTIMATORS, "KL estimator", kind)(logp, ref_logp)


# ----------------------------------------------------------------------------- policy loss


def policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    name: str = "ppo_clip",
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    agg: str = "token_mean",
    max_tokens: int | None = None,
    weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """(scalar loss, detached metrics) from the policy loss registered as `name`.

    `weights` [N, T] (detached, e.g. `rollout_correction`'s) multiply each token's loss before
    aggregation; a weight of 0 removes a token's gradient but not its place in the normalizer.
    """
    fn = _lookup(POLICY_LOSSES, "policy loss", name)
    return fn(
        logp,
        old_logp,
        advantages,
        mask,
        clip_low=clip_low,
        clip_high=clip_high,
        agg=agg,
        max_tokens=max_tokens,
        weights=weights,
    )


def _check_policy_inputs(logp: Tensor, old_logp: Tensor, advantages: Tensor, clip_low: float, clip_high: float) -> None:
    if logp.dim() != 2 or old_logp.shape != logp.shape:
        raise ValueError(f"logp {tuple(logp.shape)} and old_logp {tuple(old_logp.shape)} must both be [N, T]")
    if advantages.shape != logp.shape[:1]:
        raise ValueError(f"advantages shape {tuple(advantages.shape)} != [N] = [{logp.shape[0]}]")
    if not 0 <= clip_low < 1 or clip_high < 0:
        raise ValueError(f"need 0 <= clip_low < 1 and clip_high >= 0, got {clip_low=}, {clip_high=}")


def _weighted(per_token: Tensor, weights: Tensor | None) -> Tensor:
    if weights is None:
        return per_token
    if weights.shape != per_token.shape:
        raise ValueError(f"weights shape {tuple(weights.shape)} != logp shape {tuple(per_token.shape)}")
    return per_token * weights.detach().to(per_token.dtype)


@register_policy_loss("ppo_clip")
def ppo_clip_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    agg: str = "token_mean",
    max_tokens: int | None = None,
    weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO clipped surrogate with asymmetric clip range [1 - clip_low, 1 + clip_high] (DAPO).

    Per token: max(-A * ratio, -A * clip(ratio)), ratio = exp(logp - old_logp); `old_logp` and
    `advantages` [N] are treated as constants. On-policy (old_logp == logp.detach()) the
    gradient is -A * grad logp, aggregated by `agg`.
    Metrics (token-level means over the mask, whatever `agg` is): `clip_fraction` (tokens
    where the clipped term won strictly), `ratio_mean`, `approx_kl` (k3 estimate of
    KL(old || new), the tokens being samples of the old policy).
    """
    _check_policy_inputs(logp, old_logp, advantages, clip_low, clip_high)
    mask = _as_bool(mask, logp, "logp")
    zero = torch.zeros((), dtype=logp.dtype, device=logp.device)
    log_ratio = torch.where(mask, logp - old_logp.detach(), zero)
    ratio = log_ratio.clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO).exp()
    adv = advantages.detach().to(ratio.dtype)[:, None]
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1 - clip_low, 1 + clip_high)
    loss = aggregate(_weighted(torch.maximum(unclipped, clipped), weights), mask, agg, max_tokens)
    with torch.no_grad():
        metrics = {
            "clip_fraction": _masked_mean((clipped > unclipped).to(ratio.dtype), mask),
            "ratio_mean": _masked_mean(ratio, mask),
            "approx_kl": _masked_mean(_k3(old_logp, logp), mask),
        }
    return loss, metrics


@register_policy_loss("gspo")
def gspo_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 3e-4,
    clip_high: float = 4e-4,
    agg: str = "seq_mean_token_mean",
    max_tokens: int | None = None,
    weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """GSPO (Zheng et al. 2025, "Group Sequence Policy Optimization"): one importance ratio per
    sequence, the geometric mean of its token ratios s_i = exp(mean_t (logp - old_logp)),
    clipped to [1 - clip_low, 1 + clip_high] (the paper's 3e-4 / 4e-4 by default); the
    sequence's loss max(-A s, -A clip(s)) is put on each of its tokens and aggregated by `agg`.

    `seq_mean_token_mean` is the paper's objective (a mean over sequences); `token_mean` is
    TRL's `importance_sampling_level="sequence"` with its default token-level loss (sequences
    weighted by their length). Gradient of an unclipped sequence: -A s mean_t grad logp_t; on
    policy (s = 1) the length-normalized policy gradient. Metrics as `ppo_clip_loss`'s
    (`clip_fraction` and `ratio_mean` count each sequence once per token).
    """
    _check_policy_inputs(logp, old_logp, advantages, clip_low, clip_high)
    mask = _as_bool(mask, logp, "logp")
    zero = torch.zeros((), dtype=logp.dtype, device=logp.device)
    log_ratio = torch.where(mask, logp - old_logp.detach(), zero)
    seq_log_ratio = log_ratio.sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)
    ratio = seq_log_ratio.clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO).exp()
    adv = advantages.detach().to(ratio.dtype)
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1 - clip_low, 1 + clip_high)
    per_token = torch.maximum(unclipped, clipped)[:, None].expand_as(logp)
    loss = aggregate(_weighted(per_token, weights), mask, agg, max_tokens)
    with torch.no_grad():
        metrics = {
            "clip_fraction": _masked_mean((clipped > unclipped).to(ratio.dtype)[:, None].expand_as(logp), mask),
            "ratio_mean": _masked_mean(ratio[:, None].expand_as(logp), mask),
            "approx_kl": _masked_mean(_k3(old_logp, logp), mask),
        }
    return loss, metrics


# ----------------------------------------------------------------------------- rollout correction

ROLLOUT_CORRECTIONS = ("none", "tis", "mis", "tis_mis")


def rollout_correction(
    old_logp: Tensor,
    rollout_logp: Tensor,
    mask: Tensor,
    *,
    kind: str = "none",
    tis_cap: float = 2.0,
    mis_low: float = 0.5,
    mis_high: float = 2.0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Importance weights [N, T] (detached) that correct for sampling with the rollout engine's
    numerics instead of the learner's, and metrics of the mismatch.

    rho_t = pi_learner(y_t) / pi_rollout(y_t) = exp(old_logp - rollout_logp), the learner's
    log-probs at the start of the step against the engine's (both under the sampling
    distribution; log-ratio clamped to +-MAX_LOG_RATIO). `kind`:
    - `tis`: truncated IS per token, w_t = min(rho_t, tis_cap) (Yao et al. 2025, "Your efficient
      RL framework secretly brings you off-policy RL training"; OpenRLHF
      `--vllm_is_correction_type tis`; verl `rollout_is: token` with `rollout_is_threshold`
      2.0; TRL `vllm_importance_sampling_mode="token_truncate"`). Small ratios stay small.
    - `mis`: masked IS per sequence: a sequence whose geometric-mean ratio exp(mean_t log rho_t)
      is outside [mis_low, mis_high] gets weight 0, the others 1 (verl's geometric rejection
      sampling `rollout_rs: geometric`; OpenRLHF's `seq-mask-tis` masks the same way). TRL's
      default `sequence_mask` uses the product of the ratios instead of their geometric mean.
    - `tis_mis`: both (OpenRLHF `seq-mask-tis`, with the token weights truncated); `none`: 1.
    A masked token keeps its place in the loss normalizer (as in TRL; verl drops it), so
    masking removes gradient without re-weighting the other tokens.

    Metrics (token means over the mask, whatever `kind` is, so they can guide the choice):
    `logprob_abs_diff` mean |log rho|, `truncated_frac` share of tokens with rho > tis_cap,
    `masked_frac` share of tokens in sequences outside [mis_low, mis_high].
    """
    if kind not in ROLLOUT_CORRECTIONS:
        raise ValueError(f"unknown rollout correction {kind!r}; one of {ROLLOUT_CORRECTIONS}")
    if not 0 <= mis_low < 1 < mis_high or tis_cap <= 0:
        raise ValueError(f"need tis_cap > 0 and mis_low < 1 < mis_high, got {tis_cap=}, {mis_low=}, {mis_high=}")
    if rollout_logp.shape != old_logp.shape:
        raise ValueError(f"rollout_logp shape {tuple(rollout_logp.shape)} != old_logp shape {tuple(old_logp.shape)}")
    mask = _as_bool(mask, old_logp, "logp")
    with torch.no_grad():
        zero = torch.zeros((), dtype=old_logp.dtype, device=old_logp.device)
        log_rho = torch.where(mask, old_logp - rollout_logp.to(old_logp.dtype), zero)
        log_rho = log_rho.clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
        rho = log_rho.exp()
        geo = (log_rho.sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)).exp()
        outside = ((geo < mis_low) | (geo > mis_high))[:, None].expand_as(mask)
        weights = torch.ones_like(rho)
        if kind in ("tis", "tis_mis"):
            weights = rho.clamp(max=tis_cap)
        if kind in ("mis", "tis_mis"):
            weights = torch.where(outside, zero, weights)
        weights = torch.where(mask, weights, zero)
        metrics = {
            "logprob_abs_diff": _masked_mean(log_rho.abs(), mask),
            "truncated_frac": _masked_mean((rho > tis_cap).to(rho.dtype), mask),
            "masked_frac": _masked_mean(outside.to(rho.dtype), mask),
        }
    return weights, metrics


def ratio_quantiles(log_ratios: Tensor) -> dict[str, float]:
    """min / p05 / p50 / p95 / max of exp(log_ratios) (1-D, e.g. a step's rollout log-ratios),
    linearly interpolated as `torch.quantile`; NaN for an empty input."""
    if log_ratios.numel() == 0:
        return {k: float("nan") for k in ("min", "p05", "p50", "p95", "max")}
    ratios = log_ratios.detach().double().clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO).exp()
    q = torch.quantile(ratios, torch.tensor([0.05, 0.5, 0.95], dtype=ratios.dtype, device=ratios.device)).tolist()
    return {"min": float(ratios.min()), "p05": q[0], "p50": q[1], "p95": q[2], "max": float(ratios.max())}


# ----------------------------------------------------------------------------- reward shaping


def overlong_penalty(lengths: Tensor, *, max_tokens: int, buffer_tokens: int) -> Tensor:
    """DAPO's soft overlong punishment (Yu et al. 2025, eq. 13), a reward to add per sample:
    0 up to `max_tokens - buffer_tokens` completion tokens, then a linear ramp to -1 at
    `max_tokens` (the generation limit), -1 beyond."""
    if not 0 < buffer_tokens <= max_tokens:
        raise ValueError(f"need 0 < buffer_tokens <= max_tokens, got {buffer_tokens=}, {max_tokens=}")
    start = max_tokens - buffer_tokens
    return ((start - lengths.double()) / buffer_tokens).clamp(min=-1.0, max=0.0).to(torch.float32)


# ----------------------------------------------------------------------------- logits


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy [...] of softmax(logits [..., V]): -sum p log p with log p = z - logsumexp(z).

    Stable for large logits (no lse - E[z] cancellation); -inf logits (banned tokens) are
    probability 0 and add nothing, with finite gradients. Works in the logits' dtype and
    holds a few temporaries the size of `logits`: upcast or slice bf16 inputs yourself.
    """
    logp = torch.log_softmax(logits, dim=-1)
    probs = logp.exp()
    logp = torch.where(probs > 0, logp, torch.zeros((), dtype=logp.dtype, device=logp.device))
    return -(probs * logp).sum(dim=-1)


def _logprob_dtype(logits: Tensor) -> torch.dtype:
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


class _ChunkedTokenLogprobs(torch.autograd.Function):
    """log_softmax(logits / T)[tokens], chunk by chunk over T, with a chunked backward.

    Saves only the logits (no copy) and logsumexp [N, T]; the backward writes
    grad * (onehot - softmax) / T into one tensor the size of the logits, chunk by chunk.
    """

    @staticmethod
    def forward(ctx, logits: Tensor, tokens: Tensor, chunk: int, temperature: float) -> Tensor:
        dtype = _logprob_dtype(logits)
        lse = torch.empty(tokens.shape, dtype=dtype, device=logits.device)
        picked = torch.empty(tokens.shape, dtype=dtype, device=logits.device)
        for start in range(0, logits.shape[1], chunk):
            window = slice(start, start + chunk)
            part = logits[:, window].to(dtype) / temperature
            lse[:, window] = torch.logsumexp(part, dim=-1)
            picked[:, window] = part.gather(-1, tokens[:, window, None]).squeeze(-1)
        ctx.save_for_backward(logits, tokens, lse)
        ctx.chunk, ctx.temperature = chunk, temperature
        return picked - lse

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        logits, tokens, lse = ctx.saved_tensors
        grad = torch.empty_like(logits)
        for start in range(0, logits.shape[1], ctx.chunk):
            window = slice(start, start + ctx.chunk)
            g = grad_out[:, window, None].to(lse.dtype) / ctx.temperature
            part = (logits[:, window].to(lse.dtype) / ctx.temperature - lse[:, window, None]).exp_().mul_(-g)
            part.scatter_add_(-1, tokens[:, window, None], g)
            grad[:, window] = part
        return grad, None, None, None


def token_logprobs(logits: Tensor, tokens: Tensor, chunk: int | None = None, *, temperature: float = 1.0) -> Tensor:
    """log p(tokens) [N, T] under softmax(logits / temperature) (float32, or float64 for float64
    logits), from logits [N, T, V].

    This is the one definition of a token's log-probability in rlsys: the learner computes it
    and the rollout engines report the same quantity (the sampling distribution at
    `temperature`; see `actors/rollout.py` for what top-p / min-tokens change there).
    With `chunk`, T is processed `chunk` positions at a time (all N rows together), forward
    and backward, so no float32 [N, T, V] log_softmax, softmax or scaled copy is ever held; the
    gradient w.r.t. the logits is still one full [N, T, V] tensor. Every token id must be in
    [0, V), padding included.
    """
    if logits.dim() != 3 or tokens.shape != logits.shape[:2]:
        raise ValueError(
            f"need logits [N, T, V] and tokens [N, T], got {tuple(logits.shape)} and {tuple(tokens.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    low, high = (int(tokens.min()), int(tokens.max())) if tokens.numel() else (0, 0)
    if low < 0 or high >= logits.shape[-1]:
        raise ValueError(
            f"token ids must be in [0, {logits.shape[-1]}), got min {low} max {high} (pad with a real id and mask it)"
        )
    tokens = tokens.long()
    if chunk is None:
        logp = torch.log_softmax(logits.to(_logprob_dtype(logits)) / temperature, dim=-1)
        return logp.gather(-1, tokens[..., None]).squeeze(-1)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1 or None, got {chunk}")
    return _ChunkedTokenLogprobs.apply(logits, tokens, chunk, float(temperature))


__all__ = [
    "ADVANTAGES",
    "AGGREGATIONS",
    "KL_ESTIMATORS",
    "MAX_LOG_RATIO",
    "POLICY_LOSSES",
    "aggregate",
    "compute_advantages",
    "ROLLOUT_CORRECTIONS",
    "dr_grpo_advantages",
    "entropy_from_logits",
    "gspo_loss",
    "overlong_penalty",
    "group_zero_variance",
    "grpo_advantages",
    "kl_penalty",
    "policy_loss",
    "ppo_clip_loss",
    "ratio_quantiles",
    "register_advantage",
    "rollout_correction",
    "register_policy_loss",
    "token_logprobs",
]
