"""CE, sequence log-probs, DPO, WPO weights and the combined preference loss, against hand-worked numbers.

Most cases use a 2-token vocabulary with logits [0, ln 3], i.e. p = (1/4, 3/4):
  log(3/4) = -0.2876821, log(1/4) = -1.3862944, sum_v p_v^2 = 1/16 + 9/16 = 5/8.
"""

from __future__ import annotations

import math

import pytest
import torch

from pretrain_sft.losses import (
    dpo_loss,
    masked_ce,
    preference_loss,
    sequence_logprobs,
    wpo_log_normalizer,
    wpo_loss,
    wpo_weights,
)

X = -100
LN3 = math.log(3.0)


def logits_for(batch: int, length: int) -> torch.Tensor:
    """Every position predicts p = (1/4, 3/4)."""
    return torch.tensor([0.0, LN3]).repeat(batch, length, 1)


def test_masked_ce_mean_and_count():
    labels = torch.tensor([[X, 1, 0, X]])  # position 0 is never predicted; last is ignored
    loss, count = masked_ce(logits_for(1, 4), labels)
    # tokens: -log(3/4) = 0.2876821 and -log(1/4) = 1.3862944 -> mean 0.8369882
    assert int(count) == 2
    assert loss.item() == pytest.approx(0.8369882, abs=1e-6)
    total, count = masked_ce(logits_for(1, 4), labels, reduction="sum")
    assert total.item() == pytest.approx(1.6739764, abs=1e-6) and int(count) == 2


def test_masked_ce_with_no_tokens_is_zero_with_a_graph():
    logits = logits_for(1, 3).requires_grad_()
    loss, count = masked_ce(logits, torch.full((1, 3), X))
    assert loss.item() == 0.0 and int(count) == 0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_sequence_logprobs_sum_and_mean():
    labels = torch.tensor([[7, 1, 0], [7, X, 1]])  # the first label is never scored
    total = sequence_logprobs(logits_for(2, 3), labels)
    # row 0: log 3/4 + log 1/4 = -1.6739764; row 1: log 3/4 = -0.2876821
    torch.testing.assert_close(total, torch.tensor([-1.6739764, -0.2876821]))
    mean = sequence_logprobs(logits_for(2, 3), labels, average=True)
    torch.testing.assert_close(mean, torch.tensor([-0.8369882, -0.2876821]))


def test_dpo_loss_numbers_and_metrics():
    pol_c, pol_r, ref_c, ref_r = (torch.tensor([v]) for v in (-1.0, -3.0, -2.0, -2.0))
    # z = beta * ((pol_c - ref_c) - (pol_r - ref_r)) = 0.5 * (1 - (-1)) = 1
    # loss = -log sigmoid(1) = log(1 + e^-1) = 0.3132617
    losses, metrics = dpo_loss(pol_c, pol_r, ref_c, ref_r, beta=0.5)
    assert losses.item() == pytest.approx(0.3132617, abs=1e-6)
    assert metrics["chosen_rewards"].item() == pytest.approx(0.5)
    assert metrics["rejected_rewards"].item() == pytest.approx(-0.5)
    assert metrics["margins"].item() == pytest.approx(1.0)
    assert metrics["accuracies"].item() == 1.0
    # cDPO with eps = 0.1: 0.9 * 0.3132617 + 0.1 * (-log sigmoid(-1) = 1.3132617) = 0.4132617
    smoothed, _ = dpo_loss(pol_c, pol_r, ref_c, ref_r, beta=0.5, label_smoothing=0.1)
    assert smoothed.item() == pytest.approx(0.4132617, abs=1e-6)


def test_wpo_weights_without_alignment_are_geometric_mean_products():
    # chosen probs (1/2, 1/8): geometric mean sqrt(1/16) = 1/4; rejected (1/4, [padding]) -> 1/4
    chosen = torch.log(torch.tensor([[0.5, 0.125]]))
    rejected = torch.log(torch.tensor([[0.25, 0.9]]))
    weights = wpo_weights(chosen, torch.tensor([[1, 1]]), rejected, torch.tensor([[1, 0]]))
    torch.testing.assert_close(weights, torch.tensor([0.0625]))  # 1/4 * 1/4


def test_wpo_alignment_terms():
    labels = torch.tensor([[X, 1, 0]])
    sampled = wpo_log_normalizer(logits_for(1, 3), labels, "sampled")
    torch.testing.assert_close(sampled, torch.full((1, 2), math.log(0.625)))  # log 5/8
    greedy = wpo_log_normalizer(logits_for(1, 3), labels, "greedy")
    torch.testing.assert_close(greedy, torch.full((1, 2), math.log(0.75)))
    assert torch.equal(wpo_log_normalizer(logits_for(1, 3), labels, "none"), torch.zeros(1, 2))


@pytest.mark.parametrize(
    "alignment,clamp_max,expected",
    [
        # chosen labels (1, 1), rejected label (0), p = (1/4, 3/4), sum p^2 = 5/8:
        # sampled: chosen (3/4)/(5/8) = 1.2 per token -> 1.2; rejected (1/4)/(5/8) = 0.4 -> 0.48
        ("sampled", None, 0.48),
        # greedy: chosen (3/4)/(3/4) = 1; rejected (1/4)/(3/4) = 1/3 -> 0.3333333
        ("greedy", None, 1 / 3),
        # none: 3/4 * 1/4 = 0.1875
        ("none", None, 0.1875),
    ],
)
def test_wpo_weight_from_logits(alignment, clamp_max, expected):
    logits = logits_for(2, 3)
    labels = torch.tensor([[X, 1, 1], [X, X, 0]])  # [chosen row; rejected row]
    loss, metrics = preference_loss(
        logits, labels, torch.zeros(1), torch.zeros(1), beta=0.1, alignment=alignment, clamp_max=clamp_max
    )
    assert metrics["wpo_weights"].item() == pytest.approx(expected, abs=1e-6)


def test_wpo_clamp_matches_authors_and_unclamped_matches_trl():
    logits = logits_for(2, 2)
    labels = torch.tensor([[X, 1], [X, 1]])  # both completions the likely token: 1.2 * 1.2 = 1.44
    _, clamped = preference_loss(logits, labels, torch.zeros(1), torch.zeros(1), beta=0.1)
    _, unclamped = preference_loss(logits, labels, torch.zeros(1), torch.zeros(1), beta=0.1, clamp_max=None)
    assert clamped["wpo_weights"].item() == pytest.approx(1.0)
    assert unclamped["wpo_weights"].item() == pytest.approx(1.44, abs=1e-6)
    # TRL 1.16 DPOTrainer(use_weighting=True), trl/trainer/dpo_trainer.py:
    #   aligned = (per_token_logps - log_sum_sq_probs) * mask; w = exp(aligned.sum(1) / lengths),
    #   pair weight = w_chosen * w_rejected, with log_sum_sq_probs = log(sum_v p_v^2).
    per_token = torch.log_softmax(logits[:, :-1], -1)[..., 1]
    log_sum_sq = torch.log((torch.softmax(logits[:, :-1], -1) ** 2).sum(-1))
    w = torch.exp((per_token - log_sum_sq).sum(1) / 1)
    assert (w[0] * w[1]).item() == pytest.approx(unclamped["wpo_weights"].item(), abs=1e-6)


def test_wpo_weights_carry_no_gradient():
    torch.manual_seed(0)
    base = torch.randn(2, 4, 5)  # one pair, 4 positions, vocab 5
    labels = torch.tensor([[X, X, 3, 1], [X, X, 0, 2]])
    ref_c, ref_r = torch.tensor([-3.0]), torch.tensor([-2.5])

    wpo_logits = base.clone().requires_grad_()
    loss, metrics = preference_loss(wpo_logits, labels, ref_c, ref_r, beta=0.2, clamp_max=None)
    loss.backward()
    weight = metrics["wpo_weights"]
    assert not weight.requires_grad and 0 < weight.item() < 10

    dpo_logits = base.clone().requires_grad_()
    dpo, _ = preference_loss(dpo_logits, labels, ref_c, ref_r, beta=0.2, weighting="none")
    dpo.backward()
    # d(w * L_dpo) = w * dL_dpo exactly when w is a constant
    torch.testing.assert_close(wpo_logits.grad, weight * dpo_logits.grad)
    assert loss.item() == pytest.approx(weight.item() * dpo.item(), rel=1e-6)


def test_wpo_loss_detaches_the_weights():
    dpo = torch.tensor([0.5, 1.0], requires_grad=True)
    weights = torch.tensor([0.2, 0.4], requires_grad=True)
    wpo_loss(dpo, weights).sum().backward()
    torch.testing.assert_close(dpo.grad, torch.tensor([0.2, 0.4]))
    assert weights.grad is None


def test_preference_loss_matches_dpo_and_adds_the_rpo_term():
    logits = logits_for(2, 3)
    labels = torch.tensor([[X, 1, 0], [X, X, 1]])
    # policy chosen = log 3/4 + log 1/4 = -1.6739764; rejected = log 3/4 = -0.2876821
    # reference chosen -1.0, rejected -1.0: z = 0.1 * (-0.6739764 - 0.7123179) = -0.1386294 = -ln(4)/10
    # -log sigmoid(z) = log(1 + e^-z) = log(1 + 4^0.1) = log(2.1486984) = 0.7648622
    ref = torch.tensor([-1.0])
    dpo, _ = preference_loss(logits, labels, ref, ref, beta=0.1, weighting="none")
    assert dpo.item() == pytest.approx(math.log(1 + 4**0.1), abs=1e-6)
    # rpo_alpha = 0.5 adds 0.5 * chosen NLL (mean over its 2 tokens: 0.8369882) = 0.4184941
    with_rpo, metrics = preference_loss(logits, labels, ref, ref, beta=0.1, weighting="none", rpo_alpha=0.5)
    assert with_rpo.item() == pytest.approx(math.log(1 + 4**0.1) + 0.4184941, abs=1e-6)
    assert metrics["chosen_nll"].item() == pytest.approx(0.8369882, abs=1e-6)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1), beta=0.1, label_smoothing=0.5)
    with pytest.raises(ValueError, match="alignment"):
        wpo_log_normalizer(logits_for(1, 2), torch.tensor([[X, 1]]), "median")
    with pytest.raises(ValueError, match=r"need logits \[B, T, V\]"):
        masked_ce(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long))
