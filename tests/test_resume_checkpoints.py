"""The pieces of an exact resume, each on its own: the atomic checkpoint folder, strict weight
loading, RNG streams, the prompt stream's position and sampling seeds, the stage mixture's
position, and a learner that continues bit for bit after save / load.

The kill -9 runs that put them together are in test_resume_rl.py and test_resume_stages.py.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from rlsys.core import checkpoints as ck
from rlsys.core.data import PromptStream, sampling_seed


def fake_checkpoint(run_dir, step, files=None):
    """A checkpoint published by the real writer, with small stand-in files."""
    final = ck.checkpoint_dir(run_dir, step)
    staging = ck.reset_dir(ck.staging_dir(final))
    for name, text in (files or {"hf/model.safetensors": "w" * 100, "optim.pt": "o" * 50}).items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_text(text)
    ck.write_json(staging / ck.TRAINER_STATE, {"step": step})
    return ck.publish(staging, final, world_size=1)


def test_only_published_checkpoints_are_found(tmp_path):
    assert ck.latest_checkpoint(tmp_path) is None
    fake_checkpoint(tmp_path, 2)
    # a writer killed mid-way leaves a staging folder: never a candidate
    staged = ck.reset_dir(ck.staging_dir(ck.checkpoint_dir(tmp_path, 4)))
    (staged / "optim.pt").write_text("half")
    assert ck.latest_checkpoint(tmp_path) == ck.checkpoint_dir(tmp_path, 2)
    # a folder with a checkpoint's name and all its files but no manifest (copied by hand, or
    # written by an old version that wrote its marker first)
    no_manifest = ck.checkpoint_dir(tmp_path, 6)
    (no_manifest / "hf").mkdir(parents=True)
    (no_manifest / "hf" / "model.safetensors").write_text("w" * 100)
    (no_manifest / ck.TRAINER_STATE).write_text("{}")
    # a complete checkpoint whose file was cut short afterwards
    truncated = fake_checkpoint(tmp_path, 8)
    (truncated / "optim.pt").write_text("o" * 10)
    # one whose file went missing
    missing = fake_checkpoint(tmp_path, 10)
    (missing / "hf" / "model.safetensors").unlink()
    assert ck.latest_checkpoint(tmp_path) == ck.checkpoint_dir(tmp_path, 2)
    reasons = dict(ck.incomplete_checkpoints(tmp_path))
    assert "no checkpoint.json" in reasons[no_manifest]
    assert "optim.pt has 10 bytes, the manifest says 50" in reasons[truncated]
    assert "hf/model.safetensors is missing" in reasons[missing]
    assert ck.remove_leftovers(tmp_path) == [staged] and not staged.exists()


def test_steps_sort_as_numbers_and_prune_keeps_the_newest(tmp_path):
    for step in (9, 10, 1_000_000, 99):
        fake_checkpoint(tmp_path, step)
    assert ck.latest_checkpoint(tmp_path).name == "step_1000000"
    ck.prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in ck.step_folders(tmp_path)] == ["step_000099", "step_1000000"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]


def test_publishing_over_a_leftover_folder_replaces_it(tmp_path):
    leftover = ck.checkpoint_dir(tmp_path, 3)
    leftover.mkdir(parents=True)
    (leftover / "stale.pt").write_text("from a crashed attempt")
    path = fake_checkpoint(tmp_path, 3)
    assert not (path / "stale.pt").exists() and ck.checkpoint_problem(path) is None
    manifest = json.loads((path / "checkpoint.json").read_text())
    assert sorted(manifest["files"]) == ["hf/model.safetensors", "optim.pt", "trainer_state.json"]


# ---------------------------------------------------------------- learner state


def test_rng_streams_round_trip_through_a_weights_only_file(tmp_path):
    from actors.checkpointing import rng_state, set_rng_state

    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    torch.save(rng_state(), tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_weights_load_strictly_and_name_what_does_not_fit(tiny_llama, tmp_path):
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM

    from actors.checkpointing import load_weights_strict

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    state = load_file(f"{tiny_llama}/model.safetensors")
    for name, change in (
        ("missing", lambda s: s.pop("model.layers.1.mlp.up_proj.weight")),
        ("unexpected", lambda s: s.update({"model.layers.9.extra.weight": torch.zeros(2)})),
    ):
        folder = tmp_path / name
        folder.mkdir()
        broken = dict(state)
        change(broken)
        save_file(broken, folder / "model.safetensors")
        with pytest.raises(ValueError, match=rf"{name} (model.layers.1.mlp.up_proj|model.layers.9.extra).weight"):
            load_weights_strict(model, folder)
    torch.nn.init.zeros_(model.lm_head.weight)
    load_weights_strict(model, Path(tiny_llama))
    assert torch.equal(model.lm_head.weight, state["lm_head.weight"])


def test_tied_weights_are_filled_from_their_source(tmp_path):
    """qwen2 (like gemma2) ties lm_head to the embeddings; save_pretrained leaves lm_head out."""
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from actors.checkpointing import load_weights_strict
    from rlsys.toy.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "qwen2", "qwen2")
    assert "lm_head.weight" not in load_file(path / "model.safetensors")
    model = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        model.model.embed_tokens.weight.zero_()
    load_weights_strict(model, path)
    assert model.lm_head.weight is model.model.embed_tokens.weight and model.lm_head.weight.abs().sum() > 0


@pytest.mark.parametrize("strategy", ["torch", "deepspeed"])
def test_a_learner_continues_exactly_after_save_and_load(strategy, tiny_llama, tmp_path):
    """Two steps straight vs one step, checkpoint, a new learner from the initial model, load,
    one step: same loss, same KL (the reference stays the initial model), same weights."""
    from actors.distributed import free_port
    from actors.learner import Learner
    from rlsys.core.config import AlgorithmConfig, LearnerConfig
    from tests.test_learner import samples

    cfg = LearnerConfig(strategy=strategy, zero_stage=2, lr=1e-3, lr_schedule="linear")
    algo = AlgorithmConfig(kl_coef=0.5)
    batch = samples()
    tokens = sum(len(s.completion_ids) for s in batch)

    def learner():
        return Learner(tiny_llama, cfg, algo, total_steps=4, seed=5, master_port=free_port())

    a = learner()
    a.train_step(batch, tokens, len(batch))
    a.save_checkpoint(str(tmp_path / "step_1"), {"step": 1})
    straight = a.train_step(batch, tokens, len(batch))
    expected = {k: v.clone() for k, v in a.strategy.full_state_dict().items()}
    a.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_1"]  # the staging folder was renamed
    b = learner()
    b.load_checkpoint(str(tmp_path / "step_1"))
    resumed = b.train_step(batch, tokens, len(batch))
    got = b.strategy.full_state_dict()
    b.close()
    assert straight["kl"] > 0
    for key in ("loss", "kl", "grad_norm", "lr"):
        assert resumed[key] == pytest.approx(straight[key], rel=1e-6), key
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=0, atol=0)


def test_loading_an_incomplete_checkpoint_is_refused(tiny_llama, tmp_path):
    from actors.learner import Learner
    from rlsys.core.config import LearnerConfig

    learner = Learner(tiny_llama, LearnerConfig())
    learner.save_checkpoint(str(tmp_path / "step_1"))
    (tmp_path / "step_1" / "optim.pt").write_bytes(b"cut")
    with pytest.raises(ValueError, match="not a complete checkpoint: optim.pt has 3 bytes"):
        learner.load_checkpoint(str(tmp_path / "step_1"))


# ---------------------------------------------------------------- data positions and seeds


def test_prompt_stream_resumes_at_its_position_across_epochs():
    rows = [{"prompt": str(i)} for i in range(5)]
    straight = PromptStream(rows, seed=3)
    expected = [straight.next_prompts(2) for _ in range(6)]  # 12 rows: into the third epoch
    first = PromptStream(rows, seed=3)
    for _ in range(3):
        first.next_prompts(2)
    resumed = PromptStream(rows, seed=3)
    assert resumed.load_state_dict(json.loads(json.dumps(first.state_dict()))) == []
    assert [resumed.next_prompts(2) for _ in range(3)] == expected[3:]
    # a resume on other data, or with another seed, is told so
    changed = PromptStream(rows[:4], seed=4)
    notes = changed.load_state_dict(first.state_dict())
    assert any("run.seed" in n for n in notes) and any("number of rows" in n for n in notes)
    assert any("row content" in n for n in notes)


def test_sampling_seeds_depend_on_run_seed_and_position_only():
    seeds = {sampling_seed(0, p) for p in range(1000)}
    assert len(seeds) == 1000 and all(0 <= s < 2**31 for s in seeds)
    assert sampling_seed(1, 5) != sampling_seed(0, 5) and sampling_seed(1, 5) == sampling_seed(1, 5)


def test_hf_rollout_samples_depend_on_the_seed_not_on_history(tiny_llama):
    from actors.rollout import RolloutWorker
    from rlsys.core.config import RolloutConfig

    worker = RolloutWorker(
        tiny_llama, RolloutConfig(backend="hf", samples_per_prompt=3, max_new_tokens=8, max_model_len=96)
    )
    prompts = ["one", "two"]
    first = [s.completion_ids for s in worker.generate(prompts, seeds=[11, 12])]
    worker.generate(["something else"] * 3)  # moves the unseeded RNG
    torch.manual_seed(99)
    again = [s.completion_ids for s in worker.generate(prompts, seeds=[11, 12])]
    other = [s.completion_ids for s in worker.generate(prompts, seeds=[11, 13])]
    assert first == again and first[:3] == other[:3] and first[3:] != other[3:]
    state = torch.get_rng_state()
    worker.generate(prompts, seeds=[1, 2])
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is left alone


def test_mixture_resumes_with_the_batches_of_the_straight_run():
    from pretrain_sft.stage_data import StageData, mixture_steps

    data = StageData(train=[None] * 17, val=[], sizes={"a": 10, "b": 7}, weights={"a": 2.0, "b": 1.0}, stats={})
    straight = mixture_steps(data, seed=4, per_step=5)
    expected = [next(straight) for _ in range(12)]  # 60 examples: three epochs and a half
    for start in (0, 1, 3, 7, 11):
        resumed = mixture_steps(data, seed=4, per_step=5, start_step=start)
        assert [next(resumed) for _ in range(12 - start)] == expected[start:], start


def test_zero3_exports_exactly_the_model_state_dict_keys(tiny_llama):
    """ZeRO-3 gathers parameters one by one; buffers that are not part of the state dict (the
    rotary inv_freq) must not be exported: vLLM refuses them at weight sync, and a checkpoint's
    hf/ would hold a weight the model does not load."""
    from transformers import AutoModelForCausalLM

    from actors.distributed import free_port
    from actors.learner import Learner
    from rlsys.core.config import LearnerConfig

    expected = set(AutoModelForCausalLM.from_pretrained(tiny_llama).state_dict())
    learner = Learner(tiny_llama, LearnerConfig(strategy="deepspeed", zero_stage=3), master_port=free_port())
    try:
        state = learner.strategy.full_state_dict()
    finally:
        learner.close()
    assert set(state) == expected
    assert all(v.numel() > 0 for v in state.values())  # gathered, not the empty ZeRO-3 placeholders
