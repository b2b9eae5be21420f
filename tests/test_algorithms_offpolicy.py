"""CPU tests of the off-policy pieces of rlsys.core.algorithms against hand-worked numbers.

Covers: rollout correction (TIS token weights, MIS sequence masks, their combination, the
mismatch metrics and ratio quantiles), the GSPO sequence-level loss (values, clipping,
gradients, the two aggregations), per-token weights in the PPO loss, and DAPO's overlong
penalty. Not covered here: the learner wiring (tests/test_learner.py) and the driver
(tests/test_rl_options.py).
"""

from __future__ import annotations

import math

import pytest
import torch

from rlsys.core import algorithms as alg

LN2 = math.log(2.0)
NAN = float("nan")


def close(actual, expected, atol=1e-5):
    actual, expected = (torch.as_tensor(x, dtype=torch.float64) for x in (actual, expected))
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0)


# ----------------------------------------------------------------------------- rollout correction


def mismatch_case():
    """Learner (old) log-probs 0; the engine's differ. Ratios rho = exp(old - rollout):
    row 0: [4, 1, 0.5] (geometric mean 2^(1/3) = 1.2599, inside [0.5, 2]);
    row 1: [8, 8] + padding (geometric mean 8: above 2);
    row 2: [0.25] + padding holding NaN (geometric mean 0.25: below 0.5)."""
    old = torch.zeros(3, 3)
    rollout = torch.tensor([[-2 * LN2, 0.0, LN2], [-3 * LN2, -3 * LN2, 0.0], [2 * LN2, NAN, NAN]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    return old, rollout, mask


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("none", [[1, 1, 1], [1, 1, 0], [1, 0, 0]]),
        ("tis", [[2, 1, 0.5], [2, 2, 0], [0.25, 0, 0]]),  # min(rho, 2); small ratios stay small
        ("mis", [[1, 1, 1], [0, 0, 0], [0, 0, 0]]),  # rows 1 and 2 outside [0.5, 2]
        ("tis_mis", [[2, 1, 0.5], [0, 0, 0], [0, 0, 0]]),
    ],
)
def test_rollout_correction_weights(kind, expected):
    old, rollout, mask = mismatch_case()
    weights, metrics = alg.rollout_correction(old, rollout, mask, kind=kind, tis_cap=2.0, mis_low=0.5, mis_high=2.0)
    close(weights, expected)
    assert not weights.requires_grad
    # |log rho| summed: 2ln2 + 0 + ln2 + 3ln2 + 3ln2 + 2ln2 = 11 ln2 over 6 tokens = 1.2707607
    close(metrics["logprob_abs_diff"], 11 * LN2 / 6)
    close(metrics["truncated_frac"], 3 / 6)  # rho > 2: row 0 token 0, row 1 tokens 0 and 1
    close(metrics["masked_frac"], 3 / 6)  # tokens of rows 1 (2 tokens) and 2 (1 token)


def test_rollout_correction_is_identity_when_engines_agree_and_rejects_bad_settings():
    logp = torch.randn(2, 4)
    weights, metrics = alg.rollout_correction(logp, logp.clone(), torch.ones(2, 4), kind="tis_mis")
    close(weights, torch.ones(2, 4))
    assert metrics["truncated_frac"] == 0 and metrics["masked_frac"] == 0 and metrics["logprob_abs_diff"] == 0
    with pytest.raises(ValueError, match="unknown rollout correction 'ppo'"):
        alg.rollout_correction(logp, logp, torch.ones(2, 4), kind="ppo")
    with pytest.raises(ValueError, match="mis_low < 1 < mis_high"):
        alg.rollout_correction(logp, logp, torch.ones(2, 4), kind="mis", mis_low=1.2, mis_high=2.0)


def test_ratio_quantiles():
    # ratios [4, 1, 0.5, 8, 8, 0.25] sorted [0.25, 0.5, 1, 4, 8, 8]; linear interpolation at
    # p * (n - 1): p05 -> 0.25 + 0.25 * (0.5 - 0.25) = 0.3125; p50 -> (1 + 4) / 2 = 2.5; p95 -> 8
    log_ratios = torch.tensor([4.0, 1, 0.5, 8, 8, 0.25]).log()
    q = alg.ratio_quantiles(log_ratios)
    close([q["min"], q["p05"], q["p50"], q["p95"], q["max"]], [0.25, 0.3125, 2.5, 8, 8])
    assert all(math.isnan(v) for v in alg.ratio_quantiles(torch.zeros(0)).values())


def test_ppo_clip_applies_per_token_weights_to_loss_and_gradient():
    logp = torch.zeros(2, 2, requires_grad=True)
    adv = torch.tensor([1.0, -1.0])
    mask = torch.ones(2, 2)
    weights = torch.tensor([[2.0, 1.0], [0.0, 0.5]])
    loss, _ = alg.policy_loss(logp, logp.detach(), adv, mask, weights=weights)
    # on-policy: per token -A * 1 * w = [[-2, -1], [0, 0.5]]; token mean = -2.5 / 4 = -0.625
    close(loss, -0.625)
    loss.backward()
    close(logp.grad, [[-0.5, -0.25], [0, 0.125]])  # -A * w / 4


# ----------------------------------------------------------------------------- GSPO


def gspo_case():
    """Row 0: log ratios [0.1, 0.3] -> s = exp(0.2) = 1.2214028, A = +1.
    Row 1: log ratio [0.0] + one masked token holding garbage -> s = 1, A = -1."""
    old = torch.tensor([[0.0, 0.0], [0.0, -math.inf]])
    logp = torch.tensor([[0.1, 0.3], [0.0, 0.0]], requires_grad=True)
    return logp, old, torch.tensor([1.0, -1.0]), torch.tensor([[1, 1], [1, 0]], dtype=torch.bool)


def test_gspo_clips_the_sequence_ratio_with_its_own_defaults():
    logp, old, adv, mask = gspo_case()
    loss, m = alg.policy_loss(
        logp, old, adv, mask, name="gspo", clip_low=3e-4, clip_high=4e-4, agg="seq_mean_token_mean"
    )
    # row 0: max(-1.2214028, -1.0004) = -1.0004 (clipped); row 1: max(1, 1) = 1
    # sequence mean: (-1.0004 + 1) / 2 = -0.0002
    close(loss, -0.0002)
    loss.backward()
    # row 0 clipped: no gradient; row 1: d(-A s)/dlogp = s / 1 token = 1, times 1/2 (2 rows)
    close(logp.grad, [[0, 0], [0.5, 0]])
    close(m["clip_fraction"], 2 / 3)  # token-level: row 0's 2 tokens of 3
    close(m["ratio_mean"], (2 * 1.2214028 + 1) / 3)


def test_gspo_gradient_is_the_length_normalized_sequence_ratio_gradient():
    logp, old, adv, mask = gspo_case()
    loss, _ = alg.policy_loss(logp, old, adv, mask, name="gspo", clip_low=0.2, clip_high=0.3, agg="seq_mean_token_mean")
    # unclipped: row 0 -1.2214028, row 1 +1 -> mean -0.1107014
    close(loss, -0.1107014)
    loss.backward()
    # row 0: d(-A s)/dlogp_t = -s / 2 = -0.6107014, times 1/2 -> -0.3053507 per token
    close(logp.grad, [[-0.3053507, -0.3053507], [0.5, 0]])


def test_gspo_token_mean_weights_sequences_by_length_as_trl_does():
    logp, old, adv, mask = gspo_case()
    loss, _ = alg.policy_loss(logp, old, adv, mask, name="gspo", clip_low=0.2, clip_high=0.3, agg="token_mean")
    # the sequence loss on each of its tokens: (2 * -1.2214028 + 1) / 3 = -0.4809352
    close(loss, -0.4809352)


def test_gspo_on_policy_gradient_is_minus_advantage_times_mean_grad_logp():
    torch.manual_seed(0)
    logits = torch.randn(3, 4, 6, requires_grad=True)
    tokens = torch.randint(0, 6, (3, 4))
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]])
    adv = torch.tensor([1.0, -2.0, 0.5])
    logp = alg.token_logprobs(logits, tokens)
    loss, m = alg.policy_loss(logp, logp.detach(), adv, mask, name="gspo", agg="seq_mean_token_mean")
    (grad,) = torch.autograd.grad(loss, logits)
    reference = alg.aggregate(-adv[:, None] * alg.token_logprobs(logits, tokens), mask, "seq_mean_token_mean")
    (expected,) = torch.autograd.grad(reference, logits)
    close(grad, expected, atol=1e-6)
    close(m["ratio_mean"], 1.0)


# ----------------------------------------------------------------------------- overlong


def test_overlong_penalty_is_dapos_linear_ramp():
    # L_max 10, buffer 4: no penalty up to 6 tokens, then -(len - 6) / 4, down to -1 at 10
    close(
        alg.overlong_penalty(torch.tensor([5, 6, 8, 9, 10, 12]), max_tokens=10, buffer_tokens=4),
        [0, 0, -0.5, -0.75, -1, -1],
    )
    with pytest.raises(ValueError, match="buffer_tokens"):
        alg.overlong_penalty(torch.tensor([5]), max_tokens=10, buffer_tokens=11)
