"""cpt / sft / dpo / wpo stages on 2 learner ranks (Ray actors, gloo) train like 1 rank: the same
losses, gradient norms, validation loss and exported weights as the one-process run on the same
data and steps. Each mode runs another strategy, so ZeRO-1/2/3 and the torch strategy's gradient
averaging are all covered by a full-model forward (the RL learner's path is tests/test_learner_ranks.py).
"""

import json
import math
import tempfile

import pytest
import torch

from pretrain_sft.stage import run_stage
from tests.test_stage_modes import parse_stage, stage_config, write_data

STRATEGIES = {"cpt": ("deepspeed", 3), "sft": ("deepspeed", 2), "dpo": ("torch", 0), "wpo": ("deepspeed", 1)}


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"))
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("stage-rank-data"))


def metrics(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def weights(folder):
    from safetensors.torch import load_file

    return load_file(folder / "final" / "hf" / "model.safetensors")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["cpt", "sft", "dpo", "wpo"])
def test_two_ranks_train_a_stage_like_one(mode, data, tiny_llama, tmp_path, ray_local):
    strategy, stage = STRATEGIES[mode]
    one = parse_stage(stage_config(mode, data))  # one process, plain torch
    two = parse_stage(
        {**stage_config(mode, data, strategy=strategy, zero_stage=stage, num_workers=2), "cluster": {"learner_cpus": 1}}
    )
    run_stage(one, tiny_llama, tmp_path / "one")
    result = run_stage(two, tiny_llama, tmp_path / "two")
    assert result["steps"] == 2
    m1, m2 = metrics(tmp_path / "one"), metrics(tmp_path / "two")
    assert [r["step"] for r in m2] == [1, 2]
    counted = ("pairs",) if mode in ("dpo", "wpo") else ("tokens", "loss_tokens")
    for a, b in zip(m1, m2):
        for key in ("loss", "grad_norm", "lr", *counted):
            assert b[key] == pytest.approx(a[key], rel=1e-4), key
        assert math.isfinite(b["loss"]) and b["grad_norm"] > 0
    for key in ("val/loss",) + (("rewards/margin", "rewards/accuracy") if mode in ("dpo", "wpo") else ()):
        assert m2[-1][key] == pytest.approx(m1[-1][key], rel=1e-4, abs=1e-6), key
    w1, w2 = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert w1.keys() == w2.keys()
    for name in w1:  # lr 1e-3: agreement far below one Adam step (see test_learner_ranks.py)
        torch.testing.assert_close(w2[name], w1[name], atol=1e-4, rtol=0, msg=name)


def test_a_stage_on_several_ranks_needs_ray(data):
    from rlsys.core.config import ConfigError, validate
    from rlsys.core.pipeline_config import PipelineConfig

    stage = {**stage_config("sft", data, num_workers=2), "cluster": {"type": "inline"}}
    with pytest.raises(ConfigError, match="cluster.type inline runs one learner process"):
        validate(PipelineConfig, {"model": {"path": "m"}, "stages": [stage]}, "cfg.yaml")
    assert parse_stage({**stage, "cluster": {"type": "ray"}}).learner.num_workers == 2


@pytest.mark.slow
def test_a_two_rank_zero3_stage_crashed_after_a_checkpoint_resumes_like_the_straight_run(
    data, tiny_llama, tmp_path, ray_local, monkeypatch
):
    """In-stage checkpoints with 2 ranks: each rank writes its ZeRO-3 shard and RNG streams, the
    resumed stage (a new pair of ranks) ends where the straight one ends."""
    from rlsys.core.tracking import RunLog
    from tests.resume_helpers import read_jsonl
    from tests.test_resume_stages import Crash, assert_same_stage, assert_same_weights, resumable

    stage = parse_stage(
        {
            **resumable("sft", data, steps=6, strategy="deepspeed", zero_stage=3, num_workers=2),
            "cluster": {"learner_cpus": 1},
        }
    )
    straight = run_stage(stage, tiny_llama, tmp_path / "straight", seed=3)
    original = RunLog.log

    def crash_at_5(self, step, metrics):
        original(self, step, metrics)
        if step == 5:
            raise Crash

    monkeypatch.setattr(RunLog, "log", crash_at_5)
    with pytest.raises(Crash):
        run_stage(stage, tiny_llama, tmp_path / "resumed", seed=3)
    step4 = tmp_path / "resumed" / "checkpoints" / "step_000004"
    assert len(list((step4 / "deepspeed" / "state").glob("*optim_states.pt"))) == 2  # one shard per rank
    monkeypatch.setattr(RunLog, "log", original)
    resumed = run_stage(stage, tiny_llama, tmp_path / "resumed", seed=3)
    assert_same_stage(
        read_jsonl(tmp_path / "straight" / "metrics.jsonl"), read_jsonl(tmp_path / "resumed" / "metrics.jsonl"), 6
    )
    assert_same_weights(straight["model_dir"], resumed["model_dir"])
