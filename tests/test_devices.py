"""Which device a learner rank uses, and the CUDA attention path's plumbing, on a CPU.

- `local_device`: Ray shows each actor only its own GPUs, so the Ray layer passes local rank 0
  whatever LOCAL_RANK says; a launcher's LOCAL_RANK is used otherwise; a rank without a GPU is
  an error that names CUDA_VISIBLE_DEVICES. (CUDA availability is faked: a unit test of the
  choice, not of CUDA.)
- `pack` builds every tensor on the device it is given (the meta device here).
- The varlen attention route (taken on CUDA in half precision): the kernels are CUDA-only, so
  torch's `varlen_attn` is replaced by a per-sequence SDPA reference with the same signature; the
  learner's log-probabilities and the SFT loss through that route equal eager attention's. This
  covers the plumbing (sequence boundaries from `pack` / the collator, transformers passing them
  to the attention function, layouts, grouped-query heads); `tests/test_gpu_check.py` has the
  CUDA test of the real kernels.
"""

import pytest
import torch

from actors import packed_attention
from actors.distributed import local_device
from actors.learner import Learner, pack
from rlsys.core.config import LearnerConfig
from rlsys.core.types import TrainSample


def fake_gpus(monkeypatch, n: int):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)


def test_local_device_is_the_cpu_without_cuda(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert local_device() == torch.device("cpu") and local_device(0) == torch.device("cpu")


def test_a_ray_rank_uses_the_first_gpu_it_sees_whatever_local_rank_says(monkeypatch):
    fake_gpus(monkeypatch, 1)
    monkeypatch.setenv("LOCAL_RANK", "3")  # e.g. inherited from a launcher
    assert local_device(0) == torch.device("cuda", 0)
    with pytest.raises(RuntimeError, match="local rank 3 has no GPU: this process sees 1.*CUDA_VISIBLE_DEVICES"):
        local_device()


def test_a_launcher_rank_uses_local_rank(monkeypatch):
    fake_gpus(monkeypatch, 8)
    monkeypatch.setenv("LOCAL_RANK", "5")
    assert local_device() == torch.device("cuda", 5)
    monkeypatch.delenv("LOCAL_RANK")
    assert local_device() == torch.device("cuda", 0)


def test_pack_builds_its_tensors_on_the_given_device():
    samples = [TrainSample([1, 2], [3, 4], 1.0, [0.0, 0.0]), TrainSample([5], [6, 7, 8], -1.0, [0.0] * 3)]
    p = pack(samples, device="meta", varlen=True)
    tensors = [p.input_ids, p.position_ids, p.predict_at, p.targets, *p.attention_kwargs.values()]
    assert all(t.device.type == "meta" for t in tensors if torch.is_tensor(t))
    assert p.attention_kwargs["max_length_q"] == 4


def test_varlen_boundaries_and_refusal_of_shared_prompts():
    kw = packed_attention.varlen_kwargs([0, 1, 2, 0, 1, 0], "cpu")
    assert kw["cu_seq_lens_q"].tolist() == [0, 3, 5, 6] and kw["max_length_q"] == 3
    assert kw["cu_seq_lens_q"].dtype == torch.int32
    with pytest.raises(ValueError, match="start at position 0"):
        packed_attention.varlen_kwargs([0, 1, 2, 2, 3], "cpu")  # a completion continuing a shared prompt
    assert not packed_attention.uses_varlen(torch.device("cpu"), torch.bfloat16)


def reference_varlen_attn(
    query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, return_aux=None, scale=None, window_size=(-1, -1)
):
    """torch's varlen_attn signature (2.13), computed per sequence with SDPA on any device."""
    assert window_size == (-1, 0), "the learner asks for causal attention"
    assert key.shape[1] == query.shape[1], "this signature has no enable_gqa: heads must be repeated"
    assert torch.equal(cu_seq_q, cu_seq_k) and cu_seq_q.dtype == torch.int32
    out = []
    for a, b in zip(cu_seq_q[:-1].tolist(), cu_seq_q[1:].tolist()):
        q, k, v = (t[a:b].transpose(0, 1) for t in (query, key, value))
        out.append(
            torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale).transpose(0, 1)
        )
    assert max(b - a for a, b in zip(cu_seq_q[:-1].tolist(), cu_seq_q[1:].tolist())) == max_q
    return torch.cat(out)


def older_varlen_attn(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, is_causal=False, return_aux=None):
    """An older signature: `is_causal`, no `scale` (the default 1/sqrt(head_dim))."""
    assert is_causal
    return reference_varlen_attn(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, window_size=(-1, 0))


def gqa_varlen_attn(
    query,
    key,
    value,
    cu_seq_q,
    cu_seq_k,
    max_q,
    max_k,
    *,
    return_aux=None,
    scale=None,
    window_size=(-1, -1),
    enable_gqa=False,
):
    """A signature with `enable_gqa`: the adapter must pass fewer key/value heads and say so."""
    assert enable_gqa and key.shape[1] < query.shape[1]
    k, v = (t.repeat_interleave(query.shape[1] // t.shape[1], dim=1) for t in (key, value))
    return reference_varlen_attn(query, k, v, cu_seq_q, cu_seq_k, max_q, max_k, scale=scale, window_size=window_size)


SIGNATURES = {"window_size": reference_varlen_attn, "is_causal": older_varlen_attn, "enable_gqa": gqa_varlen_attn}


def route_varlen_to_reference(monkeypatch, kernel=reference_varlen_attn) -> list:
    """The varlen route on a CPU: torch's kernel replaced by the reference, taken for any dtype;
    returns the list of calls it will record. Boundaries must come from the caller (the
    position-id fallback is made to fail)."""
    import inspect

    import torch.nn.attention.varlen as torch_varlen

    calls = []

    def counted(*args, **kwargs):
        calls.append(args[0].shape)
        return kernel(*args, **kwargs)

    counted.__signature__ = inspect.signature(kernel)
    monkeypatch.setattr(torch_varlen, "varlen_attn", counted)
    packed_attention._varlen_kernel.cache_clear()
    monkeypatch.setattr(packed_attention, "uses_varlen", lambda device, dtype: True)
    monkeypatch.setattr("actors.learner.uses_varlen", lambda device, dtype: True)

    def no_host_sync(pos):
        raise AssertionError("the boundaries were not passed in: every layer would wait for the GPU")

    monkeypatch.setattr(packed_attention, "_segments", no_host_sync)
    return calls


@pytest.fixture(autouse=True)
def fresh_kernel_choice():
    yield
    packed_attention._varlen_kernel.cache_clear()  # monkeypatch has restored torch's kernel


def samples(n=5):
    g = torch.Generator().manual_seed(0)
    return [
        TrainSample(
            torch.randint(5, 900, (3 + i,), generator=g).tolist(),
            torch.randint(5, 900, (2 + 3 * i,), generator=g).tolist(),
            float(i - 2),
            [-1.0] * (2 + 3 * i),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("signature", sorted(SIGNATURES))
def test_learner_logprobs_through_the_varlen_route_equal_eager_attention(tiny_llama, monkeypatch, signature):
    from transformers import AutoModelForCausalLM

    calls = route_varlen_to_reference(monkeypatch, SIGNATURES[signature])
    learner = Learner(tiny_llama, LearnerConfig(micro_batch_tokens=4096))
    assert learner.varlen and not learner.share_prompts
    eager = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation="eager").eval()
    batch = samples()
    for s, lp in zip(batch, learner.compute_logprobs(batch)):
        with torch.no_grad():
            logits = eager(torch.tensor([s.prompt_ids + s.completion_ids])).logits[0, len(s.prompt_ids) - 1 : -1]
        ref = torch.log_softmax(logits, -1).gather(-1, torch.tensor(s.completion_ids)[:, None])[:, 0]
        torch.testing.assert_close(torch.tensor(lp), ref, atol=1e-4, rtol=1e-4)
    layers = eager.config.num_hidden_layers
    assert len(calls) == layers  # one varlen call per layer for the one packed row
    m = learner.train_step(batch, sum(len(s.completion_ids) for s in batch), len(batch))
    assert m["grad_norm"] > 0 and len(calls) == 2 * layers  # and the training forward


def test_sft_loss_through_the_varlen_route_equals_per_sequence_sdpa(tiny_llama, tmp_path, monkeypatch):
    from pretrain_sft.stage_data import load_stage_data
    from pretrain_sft.trainer import SupervisedLearner
    from tests.test_stage_modes import parse_stage, stage_config, write_data

    stage = parse_stage(stage_config("sft", write_data(tmp_path)))
    plain = SupervisedLearner(tiny_llama, stage, total_steps=1)
    examples = load_stage_data(stage, plain.tokenizer, 0).train[:8]
    expected = plain.evaluate(examples)["val/loss"]
    calls = route_varlen_to_reference(monkeypatch)
    routed = SupervisedLearner(tiny_llama, stage, total_steps=1)
    assert routed.base.varlen
    got = routed.evaluate(examples)["val/loss"]
    assert calls and got == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_compiled_decoder_layers_train_like_eager_ones(tiny_llama):
    """`learner.compile`: every decoder layer compiled (dynamic shapes), same step as eager."""
    batch = samples()
    total = sum(len(s.completion_ids) for s in batch)
    eager = Learner(tiny_llama, LearnerConfig(lr=1e-3, micro_batch_tokens=64)).train_step(batch, total, len(batch))
    learner = Learner(tiny_llama, LearnerConfig(lr=1e-3, micro_batch_tokens=64, compile=True))
    layers = learner.strategy.module.model.layers
    assert all(layer._compiled_call_impl is not None for layer in layers)
    compiled = learner.train_step(batch, total, len(batch))  # micro-batches of several lengths: one compile
    for key in ("loss", "grad_norm", "entropy"):
        assert compiled[key] == pytest.approx(eager[key], rel=1e-5), key
