"""CPU tests of rlsys.core.algorithms against numbers worked out by hand (arithmetic in comments).

Covers: GRPO / Dr. GRPO advantages, zero-variance groups, the asymmetric PPO clip and its
metrics, the three aggregations (unequal lengths, empty rows, NaN padding), KL estimators,
entropy, chunked token log-probs (values and gradients), and the on-policy gradient identity.
Not covered: GPU kernels or memory use (the chunked path's peak memory is not measured here).
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


# ----------------------------------------------------------------------------- advantages


def test_grpo_advantages_and_zero_variance_group():
    rewards = torch.tensor([1.0, 0, 0, 1, 1, 1, 1, 1])
    adv = alg.compute_advantages("grpo", rewards, group_size=4)
    # group 1: mean 0.5, deviations +-0.5, unbiased var = 4 * 0.25 / 3 = 1/3, std = 0.5773503
    #          adv = +-0.5 / 0.5773503 = +-0.8660254 (eps 1e-6 moves the 6th decimal only)
    # group 2: all equal -> std 0 -> 0 / (0 + eps) = 0, not NaN
    close(adv, [0.8660254, -0.8660254, -0.8660254, 0.8660254, 0, 0, 0, 0])
    assert alg.group_zero_variance(rewards, 4).tolist() == [False, True]


def test_grpo_uses_unbiased_std():
    # [3, 1, 2]: mean 2, deviations 1, -1, 0; unbiased var = 2 / 2 = 1 -> std 1 -> adv [1, -1, 0]
    # (biased std would be sqrt(2/3) = 0.8165 -> adv +-1.2247)
    adv = alg.compute_advantages("grpo", torch.tensor([3.0, 1, 2, 5, 5, 5]), group_size=3)
    close(adv, [1, -1, 0, 0, 0, 0])


def test_dr_grpo_advantages_are_centred_only():
    # [3, 1, 2] - 2 = [1, -1, 0]; [1, 0, 0, 1] - 0.5 = [0.5, -0.5, -0.5, 0.5]
    close(alg.compute_advantages("dr_grpo", torch.tensor([3.0, 1, 2, 5, 5, 5]), 3), [1, -1, 0, 0, 0, 0])
    close(alg.compute_advantages("dr_grpo", torch.tensor([1, 0, 0, 1]), 4), [0.5, -0.5, -0.5, 0.5])


def test_advantage_errors_and_registry():
    with pytest.raises(ValueError, match="multiple of group_size=4"):
        alg.compute_advantages("grpo", torch.zeros(6), 4)
    with pytest.raises(ValueError, match="group_size >= 2"):
        alg.compute_advantages("grpo", torch.zeros(4), 1)
    with pytest.raises(ValueError, match="rows \\[2\\]"):
        alg.compute_advantages("dr_grpo", torch.tensor([1.0, 0, NAN, 1]), 2)
    with pytest.raises(ValueError, match="unknown advantage estimator 'ppo'.*dr_grpo"):
        alg.compute_advantages("ppo", torch.zeros(4), 2)
    with pytest.raises(ValueError, match="already registered"):
        alg.register_advantage("grpo")(lambda rewards, group_size, *, eps: rewards)
    with pytest.raises(ValueError, match="already registered"):
        alg.register_policy_loss("ppo_clip")(alg.ppo_clip_loss)
    assert {"grpo", "dr_grpo"} <= set(alg.ADVANTAGES) and "ppo_clip" in alg.POLICY_LOSSES


def test_failed_reward_is_left_out_of_group_statistics_for_every_estimator():
    """Rewards [1, 0, fail, 1]: statistics over the 3 known rewards only; the failed sample gets 0."""
    rewards = torch.tensor([1.0, 0.0, NAN, 1.0])
    valid = torch.tensor([True, True, False, True])
    # known [1, 0, 1]: mean 2/3, deviations [1/3, -2/3, 1/3]
    # unbiased var = (1/9 + 4/9 + 1/9) / (3 - 1) = 1/3, std = 0.5773503
    # grpo: [1/3, -2/3, 1/3] / 0.5773503 = [0.5773503, -1.1547005, 0.5773503]
    # (filling the failure with the mean and dividing by the std over all 4 gives
    #  std sqrt((6/9) / 3) = 0.4714045 and [0.7071068, -1.4142136, 0, 0.7071068]: x sqrt(3/2))
    close(alg.compute_advantages("grpo", rewards, 4, valid=valid), [0.5773503, -1.1547005, 0, 0.5773503])
    close(alg.compute_advantages("dr_grpo", rewards, 4, valid=valid), [1 / 3, -2 / 3, 0, 1 / 3])
    for name in alg.ADVANTAGES:  # every registered estimator takes the mask and zeroes invalid rows
        adv = alg.compute_advantages(name, rewards, 4, valid=valid)
        assert adv[2] == 0 and torch.isfinite(adv).all(), name


def test_groups_with_fewer_than_two_known_rewards_get_zero_advantages():
    rewards = torch.tensor([NAN, 3.0, NAN, NAN, NAN, NAN, NAN, NAN, 1.0, 0.0, 1.0, 0.0])
    valid = ~torch.isnan(rewards)
    for name in alg.ADVANTAGES:
        adv = alg.compute_advantages(name, rewards, 4, valid=valid)
        close(adv[:8], [0] * 8)  # one known reward: no baseline; none known: nothing to learn
        assert (adv[8:] != 0).all(), name
    # equal known rewards: zero variance; one or no known reward: no signal either
    assert alg.group_zero_variance(rewards, 4, valid=valid).tolist() == [True, True, False]
    mixed = torch.tensor([0.5, 0.5, NAN, 0.5, 0.5, 0.5, NAN, 1.0])
    assert alg.group_zero_variance(mixed, 4, valid=~torch.isnan(mixed)).tolist() == [True, False]


def test_valid_mask_errors():
    with pytest.raises(ValueError, match="rows \\[1\\]"):  # NaN where the mask says the reward is known
        alg.compute_advantages("grpo", torch.tensor([1.0, NAN]), 2, valid=torch.tensor([True, True]))
    with pytest.raises(ValueError, match="valid shape"):
        alg.compute_advantages("grpo", torch.zeros(4), 2, valid=torch.ones(3, dtype=torch.bool))


# ----------------------------------------------------------------------------- aggregation

VALUES = torch.tensor([[1.0, 2, 3, 4], [5, 6, NAN, NAN], [9, 9, 9, 9]])
MASK = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]])  # lengths 4, 2, 0 (empty row)


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        ("token_mean", 3.5),  # (1+2+3+4 + 5+6) / 6 tokens = 21 / 6
        ("seq_mean_token_mean", 4.0),  # mean(10/4, 11/2) = mean(2.5, 5.5); empty row left out
        ("seq_mean_token_sum_norm", 2.625),  # mean(10/4, 11/4) = (2.5 + 2.75) / 2, max_tokens 4
    ],
)
def test_aggregations_with_unequal_lengths_and_empty_row(agg, expected):
    values = VALUES.clone().requires_grad_()
    out = alg.aggregate(values, MASK, agg, max_tokens=4)
    close(out, expected)
    out.backward()
    assert torch.isfinite(values.grad).all() and (values.grad[MASK == 0] == 0).all()


def test_aggregation_gradients_weight_tokens_as_documented():
    values = VALUES.clone().requires_grad_()
    alg.aggregate(values, MASK, "seq_mean_token_mean").backward()
    # 2 non-empty rows: row 0 tokens 1/2 * 1/4 = 0.125, row 1 tokens 1/2 * 1/2 = 0.25
    close(values.grad, [[0.125] * 4, [0.25, 0.25, 0, 0], [0] * 4])


def test_aggregation_all_empty_and_errors():
    values = torch.ones(2, 3, requires_grad=True)
    for agg in alg.AGGREGATIONS:
        out = alg.aggregate(values, torch.zeros(2, 3, dtype=torch.bool), agg, max_tokens=3)
        assert out.item() == 0.0
        out.backward()
    with pytest.raises(ValueError, match="needs max_tokens"):
        alg.aggregate(values, torch.ones(2, 3), "seq_mean_token_sum_norm")
    with pytest.raises(ValueError, match="unknown aggregation 'mean'"):
        alg.aggregate(values, torch.ones(2, 3), "mean")
    with pytest.raises(ValueError, match="mask shape"):
        alg.aggregate(values, torch.ones(2, 4), "token_mean")


# ----------------------------------------------------------------------------- PPO clip


def clip_case():
    """Four one-token rows plus a masked second column holding garbage (inf log-ratio)."""
    ratios = torch.tensor([1.5, 0.5, 0.5, 1.5])
    logp = torch.stack([ratios.log(), torch.zeros(4)], dim=1).requires_grad_()
    old_logp = torch.stack([torch.zeros(4), torch.full((4,), -math.inf)], dim=1)
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0])
    mask = torch.tensor([[True, False]] * 4)
    return logp, old_logp, advantages, mask


def test_ppo_clip_values_metrics_and_gradient():
    logp, old_logp, adv, mask = clip_case()
    loss, metrics = alg.policy_loss(logp, old_logp, adv, mask)  # clip range [0.8, 1.28]
    # row 0: A=+1, ratio 1.5 > 1.28 -> max(-1.5, -1.28) = -1.28, clipped
    # row 1: A=-1, ratio 0.5 < 0.80 -> max(0.5, 0.80) = 0.80, clipped
    # row 2: A=+1, ratio 0.5 -> max(-0.5, -0.8) = -0.5, not clipped (other side)
    # row 3: A=-1, ratio 1.5 -> max(1.5, 1.28) = 1.5, not clipped (other side)
    # token_mean = (-1.28 + 0.8 - 0.5 + 1.5) / 4 = 0.52 / 4 = 0.13
    close(loss, 0.13)
    close(metrics["clip_fraction"], 0.5)  # rows 0 and 1
    close(metrics["ratio_mean"], 1.0)  # (1.5 + 0.5 + 0.5 + 1.5) / 4
    # k3 of KL(old||new) = r - 1 - ln r: r=1.5 -> 0.5 - 0.4054651 = 0.0945349;
    # r=0.5 -> -0.5 + 0.6931472 = 0.1931472; mean = (0.0945349 + 0.1931472) / 2 = 0.1438410
    close(metrics["approx_kl"], 0.1438410)
    loss.backward()
    # clipped rows: 0. row 2: d(-A r)/dlogp = -r = -0.5, /4 -> -0.125. row 3: +r = 1.5, /4 -> 0.375
    close(logp.grad, [[0, 0], [0, 0], [-0.125, 0], [0.375, 0]])
    assert all(not v.requires_grad for v in metrics.values())


def test_clip_higher_is_asymmetric():
    logp = torch.tensor([[math.log(1.25)]])
    old, adv, mask = torch.zeros(1, 1), torch.tensor([1.0]), torch.ones(1, 1)
    # ratio 1.25 < 1 + 0.28: not clipped -> loss -1.25; with clip_high 0.2: -1.2, clipped
    loss, m = alg.policy_loss(logp, old, adv, mask)
    close(loss, -1.25)
    close(m["clip_fraction"], 0.0)
    loss, m = alg.policy_loss(logp, old, adv, mask, clip_high=0.2)
    close(loss, -1.2)
    close(m["clip_fraction"], 1.0)
    # negative advantage, ratio 0.75 < 1 - 0.2: loss max(0.75, 0.8) = 0.8; clip_low 0.3 -> 0.75
    logp = torch.tensor([[math.log(0.75)]])
    close(alg.policy_loss(logp, old, -adv, mask)[0], 0.8)
    close(alg.policy_loss(logp, old, -adv, mask, clip_low=0.3)[0], 0.75)


@pytest.mark.parametrize("agg", list(alg.AGGREGATIONS))
def test_on_policy_gradient_is_minus_advantage_times_grad_logp(agg):
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 7, requires_grad=True)
    tokens = torch.randint(0, 7, (3, 5))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    adv = torch.tensor([1.0, -2.0, 0.5])
    logp = alg.token_logprobs(logits, tokens)
    loss, metrics = alg.policy_loss(logp, logp.detach(), adv, mask, agg=agg, max_tokens=5)
    (grad,) = torch.autograd.grad(loss, logits)
    # reference: the plain policy gradient surrogate -A * logp, aggregated the same way
    reference = alg.aggregate(-adv[:, None] * alg.token_logprobs(logits, tokens), mask, agg, max_tokens=5)
    (expected,) = torch.autograd.grad(reference, logits)
    close(grad, expected, atol=1e-6)
    for key, on_policy_value in (("ratio_mean", 1.0), ("clip_fraction", 0.0), ("approx_kl", 0.0)):
        close(metrics[key], on_policy_value)


def test_policy_loss_errors():
    logp, old_logp, adv, mask = clip_case()
    with pytest.raises(ValueError, match="unknown policy loss 'cispo'.*gspo"):
        alg.policy_loss(logp, old_logp, adv, mask, name="cispo")
    with pytest.raises(ValueError, match="weights shape"):
        alg.policy_loss(logp, old_logp, adv, mask, weights=torch.ones(4, 3))
    with pytest.raises(ValueError, match="advantages shape"):
        alg.policy_loss(logp, old_logp, adv[:2], mask)
    with pytest.raises(ValueError, match="clip_low"):
        alg.policy_loss(logp, old_logp, adv, mask, clip_low=1.0)


# ----------------------------------------------------------------------------- KL


def test_kl_estimators_hand_values():
    logp, ref = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    close(alg.kl_penalty(logp, ref, "k1"), [LN2])  # ln 0.5 - ln 0.25 = ln 2 = 0.6931472
    close(alg.kl_penalty(logp, ref, "k2"), [0.5 * LN2**2])  # 0.5 * 0.480453 = 0.2402265
    # k3: log r = ln 0.25 - ln 0.5 = -ln 2; r - log r - 1 = 0.5 + 0.6931472 - 1 = 0.1931472
    close(alg.kl_penalty(logp, ref, "k3"), [0.1931472])
    for kind in alg.KL_ESTIMATORS:
        close(alg.kl_penalty(logp, logp, kind), [0.0])
    with pytest.raises(ValueError, match="unknown KL estimator 'k4'"):
        alg.kl_penalty(logp, ref, "k4")


def test_k1_k3_are_unbiased_and_k3_non_negative():
    # p = [.5, .25, .25], ref = [.25, .25, .5]: KL(p||ref) = .5 ln2 + 0 + .25 ln .5 = .25 ln 2
    p, ref = torch.tensor([0.5, 0.25, 0.25]), torch.tensor([0.25, 0.25, 0.5])
    for kind in ("k1", "k3"):  # exact expectation under p of the per-token estimate
        close((p * alg.kl_penalty(p.log(), ref.log(), kind)).sum(), 0.25 * LN2)
    torch.manual_seed(0)
    a, b = torch.randn(1000) * 5, torch.randn(1000) * 5
    assert (alg.kl_penalty(a, b, "k3") >= 0).all()
    assert torch.isfinite(alg.kl_penalty(torch.tensor([0.0]), torch.tensor([500.0]), "k3")).all()


# ----------------------------------------------------------------------------- logits


def test_entropy_from_logits():
    close(alg.entropy_from_logits(torch.zeros(2, 7)), [math.log(7)] * 2)  # uniform: ln V
    close(alg.entropy_from_logits(torch.full((7,), 1e4)), math.log(7))  # shift invariant, stable
    # p = [.5, .25, .25]: H = .5 ln 2 + 2 * .25 ln 4 = 1.5 ln 2 = 1.0397208
    close(alg.entropy_from_logits(torch.tensor([0.5, 0.25, 0.25]).log()), 1.5 * LN2)
    logits = torch.tensor([0.0, 0.0, -math.inf], requires_grad=True)  # banned token: p = 0
    h = alg.entropy_from_logits(logits)
    close(h, LN2)
    h.backward()
    assert torch.isfinite(logits.grad).all()


def test_token_logprobs_hand_value():
    logits = torch.tensor([[[0.0, LN2, 0.0]]])  # p = [1, 2, 1] / 4
    for chunk in (None, 1):
        close(alg.token_logprobs(logits, torch.tensor([[1]]), chunk=chunk), [[math.log(0.5)]])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_token_logprobs_chunked_matches_unchunked(dtype):
    torch.manual_seed(0)
    base = (torch.randn(3, 10, 17) * 3).to(dtype)
    tokens = torch.randint(0, 17, (3, 10))
    weights = torch.randn(3, 10)
    outs, grads = [], []
    for chunk in (None, 4, 1, 64):  # 4 does not divide T=10; 64 > T
        logits = base.clone().requires_grad_()
        logp = alg.token_logprobs(logits, tokens, chunk=chunk)
        assert logp.dtype == torch.float32
        (logp * weights).sum().backward()
        outs.append(logp.detach())
        grads.append(logits.grad.float())
    for out, grad in zip(outs[1:], grads[1:]):
        close(out, outs[0], atol=1e-5)
        close(grad, grads[0], atol=1e-5 if dtype == torch.float32 else 2e-2)


def test_token_logprobs_at_a_temperature():
    # logits [0, ln 2, 0] at T = 0.5 -> [0, 2 ln 2, 0]: p = [1, 4, 1] / 6, log p(1) = ln(2/3)
    logits = torch.tensor([[[0.0, LN2, 0.0]]])
    for chunk in (None, 1):
        close(alg.token_logprobs(logits, torch.tensor([[1]]), chunk=chunk, temperature=0.5), [[math.log(2 / 3)]])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        alg.token_logprobs(logits, torch.tensor([[1]]), temperature=0.0)


def test_token_logprobs_gradcheck_and_errors():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, 5, (2, 3))
    assert torch.autograd.gradcheck(lambda x: alg.token_logprobs(x, tokens, chunk=2), (logits,))
    assert torch.autograd.gradcheck(lambda x: alg.token_logprobs(x, tokens, chunk=2, temperature=0.7), (logits,))
    with pytest.raises(ValueError, match="token ids must be in \\[0, 5\\)"):
        alg.token_logprobs(logits, torch.full((2, 3), -100))
    with pytest.raises(ValueError, match="tokens \\[N, T\\]"):
        alg.token_logprobs(logits, tokens[:, :2])
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        alg.token_logprobs(logits, tokens, chunk=0)
