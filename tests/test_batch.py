"""From scored samples to a batch: failed rewards, zero-variance groups, metrics."""

import math

import pytest
import torch

from rewards.base import RewardResult
from rewards.compose import CompositeResult
from rlsys.core.batch import advantages, build_batch, group_signal, reward_values
from rlsys.core.config import RLConfig
from rlsys.core.types import Sample


def result(score=None, status="ok", name="math"):
    part = RewardResult(score, status, "" if status == "ok" else "why")
    return CompositeResult(score, status, part.reason, {name: part})


def cfg(**algo):
    return RLConfig.model_validate(
        {"model": {"path": "m"}, "data": {"path": "d"}, "rollout": {"samples_per_prompt": 4}, "algorithm": algo}
    )


def sample(i, n_tokens=3):
    return Sample(i // 4, [1, 2], [5] * n_tokens, "x", [-0.5] * n_tokens, "stop", 7)


def test_failed_rewards_are_left_out_of_group_statistics():
    rewards, valid = reward_values([result(1.0), result(0.0), result(status="timeout"), result(1.0)], "skip")
    assert math.isnan(rewards[2]) and valid.tolist() == [True, True, False, True]
    # known [1, 0, 1]: mean 2/3, unbiased std sqrt(((1/3)^2 + (2/3)^2 + (1/3)^2) / 2) = 0.5773503
    torch.testing.assert_close(advantages(rewards, valid, 4, "dr_grpo"), torch.tensor([1 / 3, -2 / 3, 0.0, 1 / 3]))
    torch.testing.assert_close(
        advantages(rewards, valid, 4, "grpo"), torch.tensor([0.5773503, -1.1547005, 0.0, 0.5773503]), atol=1e-5, rtol=0
    )
    zero, valid = reward_values([result(status="error")], "zero")
    assert zero.tolist() == [0.0] and valid.tolist() == [True]  # scored 0: a known reward


def test_grpo_batch_advantages_are_not_inflated_by_a_failure():
    results = [result(1.0), result(0.0), result(status="error"), result(1.0)] + [result(1.0), result(0.0)] * 2
    batch, _ = build_batch([sample(i) for i in range(8)], results, cfg())
    # group 1 has 3 known rewards: 0.5773503 (not 0.7071068, the std over 4 with the mean filled in)
    assert [round(s.advantage, 5) for s in batch[:3]] == [0.57735, -1.1547, 0.57735]


def test_zero_variance_is_judged_on_known_rewards_only():
    """Equal known rewards plus one failure: no signal, skipped and counted (not trained on zeros)."""
    results = [result(0.5), result(0.5), result(status="timeout"), result(0.5)] + [result(1.0), result(0.0)] * 2
    batch, m = build_batch([sample(i) for i in range(8)], results, cfg())
    assert m["groups/zero_variance"] == 1 and len(batch) == 4
    assert all(s.advantage != 0 for s in batch)


def test_build_batch_skips_zero_variance_groups_and_failures_and_counts_them():
    results = [result(1.0), result(0.0), result(status="error"), result(1.0)] + [result(0.5)] * 4
    batch, m = build_batch([sample(i) for i in range(8)], results, cfg())
    assert len(batch) == 3  # group 2 has zero variance; the error sample is dropped
    assert m["groups/zero_variance"] == 1 and m["groups/total"] == 2
    assert m["reward/status/error"] == 1 and m["reward/status/ok"] == 7
    assert m["reward/math/mean"] == (1 + 0 + 1 + 0.5 * 4) / 7
    assert m["accuracy"] == 2 / 8 and m["weight_version/min_sampled"] == 7
    kept, _ = build_batch([sample(i) for i in range(8)], results, cfg(zero_variance_groups="keep"))
    assert len(kept) == 7


def long_sample(i, n_tokens, finish):
    return Sample(i // 4, [1, 2], [5] * n_tokens, "x", [-0.5] * n_tokens, finish, 7)


def test_overlong_penalty_shapes_known_rewards_before_the_group_statistics():
    """max_new_tokens 10, buffer 4: lengths 4, 6, 8, 10 get 0, 0, -0.5, -1 added."""
    c = RLConfig.model_validate(
        {
            "model": {"path": "m"},
            "data": {"path": "d"},
            "rollout": {"samples_per_prompt": 4, "max_new_tokens": 10},
            "algorithm": {"type": "dr_grpo", "overlong": {"mode": "penalty", "buffer_tokens": 4}},
        }
    )
    samples = [
        long_sample(0, 4, "stop"),
        long_sample(1, 6, "stop"),
        long_sample(2, 8, "stop"),
        long_sample(3, 10, "length"),
    ]
    batch, m = build_batch(samples, [result(1.0)] * 4, c)
    # shaped rewards [1, 1, 0.5, 0]: mean 0.625 -> dr_grpo advantages [0.375, 0.375, -0.125, -0.625]
    assert [s.advantage for s in batch] == pytest.approx([0.375, 0.375, -0.125, -0.625])
    assert m["overlong/penalty_mean"] == pytest.approx(-0.375) and m["reward/mean"] == 1.0  # the task reward


def test_overlong_mask_keeps_truncated_samples_in_the_statistics_but_out_of_the_loss():
    samples = [
        long_sample(0, 3, "stop"),
        long_sample(1, 3, "length"),
        long_sample(2, 3, "stop"),
        long_sample(3, 3, "stop"),
    ]
    results = [result(1.0), result(0.0), result(0.0), result(1.0)]
    batch, m = build_batch(samples, results, cfg(type="dr_grpo", overlong={"mode": "mask"}))
    # mean over all 4 known rewards = 0.5; the truncated sample (index 1) leaves the loss
    assert [s.advantage for s in batch] == [0.5, -0.5, 0.5] and m["overlong/masked"] == 1


def test_dynamic_sampling_keeps_the_first_groups_with_signal_and_counts_the_rest():
    # groups: 0 signal, 1 zero variance, 2 signal, 3 signal; keep at most 2 groups with signal
    scores = [1, 0, 1, 0] + [1] * 4 + [0, 0, 1, 1] + [1, 1, 0, 0]
    results = [result(float(x)) for x in scores]
    c = cfg(dynamic_sampling={"enabled": True})
    batch, m = build_batch([sample(i) for i in range(16)], results, c, max_groups=2)
    assert len(batch) == 8 and m["groups/trained"] == 2 and m["dynamic_sampling/surplus_groups"] == 1
    assert m["dynamic_sampling/short_groups"] == 0 and m["groups/zero_variance"] == 1
    _, short = build_batch([sample(i) for i in range(16)], results, c, max_groups=4)
    assert short["dynamic_sampling/short_groups"] == 1 and short["groups/trained"] == 3
    assert group_signal([sample(i) for i in range(16)], results, c).tolist() == [True, False, True, True]
