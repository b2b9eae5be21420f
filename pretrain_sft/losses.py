"""Losses for CPT, SFT and preference optimization (DPO, WPO, RPO-style SFT term), pure torch.

Why: the learner's CPT/SFT/preference modes share these few formulas; keeping them as tensor
functions lets tests check them against hand-computed numbers.

Conventions
- `labels` follow the Hugging Face convention used by formatting.py and packing.py: aligned
  with `input_ids`, -100 = ignored; logits at position t are scored against labels[t+1]. Every
  function here does that shift itself, so pass the model's logits [B, T, V] and the batch's
  labels [B, T] unchanged.
- Per-token log-probabilities come from `rlsys.core.algorithms.token_logprobs` (float32, optional
  chunking over T), the same code the RL losses use.
- Preference batches are [chosen rows; rejected rows] (packing.pad_preference_batch), so
  `sequence_logprobs(logits, labels).chunk(2)` gives (chosen, rejected).

DPO (Rafailov et al. 2023), sigmoid form with conservative label smoothing (cDPO, as TRL):
  z = (pi_c - pi_r) - (ref_c - ref_r);  loss = -(1-eps) log s(beta z) - eps log s(-beta z).

WPO (Zhou et al. 2024, "WPO: Enhancing RLHF with Weighted Preference Optimization", Eq. 2 with
the paper's weight alignment): each pair's DPO loss is multiplied by
  w = exp( mean_t [log p(y_c,t) - log N_t] ) * exp( mean_t [log p(y_r,t) - log N_t] )
under the CURRENT policy, means over each completion's tokens (a geometric-mean, i.e.
length-normalized, probability), detached from the gradient. The alignment term N_t:
  - "sampled" (what the authors' released trainer and TRL's `use_weighting` compute):
    N_t = sum_v p(v | prefix)^2, the expected probability of a token sampled from the policy,
    so pairs the policy would itself generate get weight ~1 whatever its confidence;
  - "greedy": N_t = max_v p(v | prefix), the paper's other alignment variant;
  - "none": N_t = 1, the plain product of geometric-mean probabilities.
The authors' released trainer clamps w at 1 (`clamp_max=1.0`, our default); TRL 1.16's
DPOTrainer(use_weighting=True) does not clamp (pass `clamp_max=None` to match it exactly).
With "sampled" a pair can exceed 1 before the clamp (p(y) > sum_v p_v^2 for a likely token);
"greedy" and "none" weights never exceed 1.

RPO-style SFT term (Pang et al. 2024; `rpo_alpha` in older TRL): `rpo_alpha` * mean NLL over the
chosen completion tokens of the batch, added to the preference loss, never WPO-weighted. TRL 1.16
writes it as `loss_type=["sigmoid", "sft"], loss_weights=[1, rpo_alpha]` (same NLL), but there
`use_weighting` also scales the SFT term by the pair weights.

Memory: `masked_ce` and `wpo_log_normalizer` make float32 copies of the [B, T, V] logits (the
latter under no_grad); only the log-probs can be chunked (`chunk=`).

Not covered: IPO / hinge / other DPO variants, reference-free (SimPO) losses, loss scaling
across micro-batches or ranks (use `masked_ce(..., reduction="sum")` and divide by the global
token count yourself), dividing logits by a temperature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pretrain_sft.examples import IGNORE_INDEX
from rlsys.core.algorithms import token_logprobs

WPO_ALIGNMENTS = ("sampled", "greedy", "none")


def shift_labels(labels: Tensor) -> tuple[Tensor, Tensor]:
    """(targets [B, T-1] with ignored ids replaced by 0, mask [B, T-1] bool) for logits[:, :-1]."""
    targets = labels[:, 1:]
    mask = targets != IGNORE_INDEX
    return torch.where(mask, targets, torch.zeros_like(targets)), mask


def completion_token_logprobs(logits: Tensor, labels: Tensor, *, chunk: int | None = None) -> tuple[Tensor, Tensor]:
    """Per-token log p(label) [B, T-1] (0 where ignored) and the mask [B, T-1]."""
    _check(logits, labels)
    targets, mask = shift_labels(labels)
    logps = token_logprobs(logits[:, :-1], targets, chunk)
    return logps * mask, mask


def _check(logits: Tensor, labels: Tensor) -> None:
    if logits.dim() != 3 or labels.shape != logits.shape[:2]:
        shapes = f"{tuple(logits.shape)} and {tuple(labels.shape)}"
        raise ValueError(f"need logits [B, T, V] and labels [B, T], got {shapes}")


def masked_ce(logits: Tensor, labels: Tensor, *, reduction: str = "mean") -> tuple[Tensor, Tensor]:
    """Cross-entropy over non-ignored next tokens: (loss, token count).

    "mean" divides by the count (0 tokens -> a zero loss that still has a graph); "sum" does
    not, for normalizing by a global token count across micro-batches.
    """
    _check(logits, labels)
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    targets = labels[:, 1:].reshape(-1)
    flat = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    total = F.cross_entropy(flat, targets, ignore_index=IGNORE_INDEX, reduction="sum")
    count = (targets != IGNORE_INDEX).sum()
    if reduction == "sum":
        return total, count
    return total / count.clamp(min=1), count


def sequence_logprobs(logits: Tensor, labels: Tensor, *, average: bool = False, chunk: int | None = None) -> Tensor:
    """Sum (or, with `average`, mean) of log p over each row's labelled tokens: [B]."""
    logps, mask = completion_token_logprobs(logits, labels, chunk=chunk)
    total = logps.sum(-1)
    return total / mask.sum(-1).clamp(min=1) if average else total


def dpo_loss(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    *,
    beta: float,
    label_smoothing: float = 0.0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Sigmoid DPO per pair [B] from sequence log-probs [B]; metrics are detached per-pair tensors.

    metrics: chosen_rewards, rejected_rewards (beta * log-ratio to the reference), margins,
    accuracies (1.0 where the chosen reward is higher).
    """
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    chosen_ratio, rejected_ratio = policy_chosen - ref_chosen, policy_rejected - ref_rejected
    z = beta * (chosen_ratio - rejected_ratio)
    losses = -F.logsigmoid(z) * (1 - label_smoothing) - F.logsigmoid(-z) * label_smoothing
    chosen_rewards, rejected_rewards = beta * chosen_ratio.detach(), beta * rejected_ratio.detach()
    metrics = {
        "chosen_rewards": chosen_rewards,
        "rejected_rewards": rejected_rewards,
        "margins": chosen_rewards - rejected_rewards,
        "accuracies": (chosen_rewards > rejected_rewards).float(),
    }
    return losses, metrics


@torch.no_grad()
def wpo_log_normalizer(logits: Tensor, labels: Tensor, alignment: str = "sampled") -> Tensor:
    """log N_t [B, T-1] for WPO weight alignment (see module docstring); never has a gradient."""
    _check(logits, labels)
    if alignment not in WPO_ALIGNMENTS:
        raise ValueError(f"alignment must be one of {WPO_ALIGNMENTS}, got {alignment!r}")
    shifted = logits[:, :-1].float()
    if alignment == "none":
        return torch.zeros(shifted.shape[:2], device=logits.device)
    log_z = torch.logsumexp(shifted, dim=-1)
    if alignment == "greedy":
        return shifted.max(dim=-1).values - log_z
    return torch.logsumexp(2 * shifted, dim=-1) - 2 * log_z  # log sum_v p_v^2


def wpo_weights(
    chosen_token_logps: Tensor,
    chosen_mask: Tensor,
    rejected_token_logps: Tensor,
    rejected_mask: Tensor,
    *,
    chosen_log_norm: Tensor | None = None,
    rejected_log_norm: Tensor | None = None,
    clamp_max: float | None = 1.0,
) -> Tensor:
    """WPO pair weights [B] from per-token policy log-probs and masks [B, T]; detached.

    `*_log_norm` are `wpo_log_normalizer` outputs (None = no alignment).
    """

    def mean_aligned(logps: Tensor, mask: Tensor, log_norm: Tensor | None) -> Tensor:
        aligned = logps.detach() - (0.0 if log_norm is None else log_norm.detach())
        mask = mask.to(aligned.dtype)
        return (aligned * mask).sum(-1) / mask.sum(-1).clamp(min=1)

    log_weight = mean_aligned(chosen_token_logps, chosen_mask, chosen_log_norm) + mean_aligned(
        rejected_token_logps, rejected_mask, rejected_log_norm
    )
    weights = log_weight.exp()
    return weights if clamp_max is None else weights.clamp(max=clamp_max)


def wpo_loss(dpo_losses: Tensor, weights: Tensor) -> Tensor:
    """Per-pair WPO loss: the DPO loss scaled by a weight that carries no gradient."""
    return weights.detach() * dpo_losses


def preference_loss(
    logits: Tensor,
    labels: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    *,
    beta: float,
    label_smoothing: float = 0.0,
    weighting: str = "wpo",
    alignment: str = "sampled",
    clamp_max: float | None = 1.0,
    rpo_alpha: float = 0.0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Scalar DPO/WPO loss for a [chosen rows; rejected rows] batch (logits [2B, T, V]).

    `ref_chosen`/`ref_rejected` are the reference model's `sequence_logprobs` [B] on the same
    batch. `weighting`: "wpo" or "none" (plain DPO). Adds `rpo_alpha` * chosen NLL.
    """
    if weighting not in ("wpo", "none"):
        raise ValueError(f"weighting must be 'wpo' or 'none', got {weighting!r}")
    token_logps, mask = completion_token_logprobs(logits, labels)
    policy_chosen, policy_rejected = token_logps.sum(-1).chunk(2)
    losses, metrics = dpo_loss(
        policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta=beta, label_smoothing=label_smoothing
    )
    if weighting == "wpo":
        log_norm = wpo_log_normalizer(logits, labels, alignment)
        (c_logps, r_logps), (c_mask, r_mask), (c_norm, r_norm) = (t.chunk(2) for t in (token_logps, mask, log_norm))
        weights = wpo_weights(
            c_logps, c_mask, r_logps, r_mask, chosen_log_norm=c_norm, rejected_log_norm=r_norm, clamp_max=clamp_max
        )
        losses = wpo_loss(losses, weights)
        metrics["wpo_weights"] = weights
    loss = losses.mean()
    if rpo_alpha:
        chosen_rows = labels.shape[0] // 2
        nll, _ = masked_ce(logits[:chosen_rows], labels[:chosen_rows])
        metrics["chosen_nll"] = nll.detach()
        loss = loss + rpo_alpha * nll
    return loss, metrics
