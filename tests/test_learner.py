"""The learner's packing, log-probabilities and loss normalization on a real tiny model."""

import pytest
import torch

from actors.learner import Learner, pack, plan_micro_batches
from rlsys.core.config import AlgorithmConfig, LearnerConfig
from rlsys.core.types import TrainSample


def samples(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        p = torch.randint(5, 900, (3 + i,), generator=g).tolist()
        c = torch.randint(5, 900, (2 + 2 * i,), generator=g).tolist()
        out.append(TrainSample(p, c, advantage=float(i - 2), rollout_logprobs=[-1.0] * len(c)))
    return out


def test_plan_micro_batches_respects_budget_and_keeps_everything():
    lengths = [7, 3, 9, 2, 5, 5]
    bins = plan_micro_batches(lengths, 10)
    assert sorted(i for b in bins for i in b) == list(range(6))
    assert all(sum(lengths[i] for i in b) <= 10 for b in bins)
    with pytest.raises(ValueError, match="over learner.micro_batch_tokens"):
        plan_micro_batches([11], 10)


def logprobs_alone(model, s: TrainSample) -> torch.Tensor:
    ids = torch.tensor([s.prompt_ids + s.completion_ids])
    with torch.no_grad():
        logits = model(ids).logits[0].float()
    p = len(s.prompt_ids)
    return torch.log_softmax(logits[p - 1 : -1], -1).gather(-1, torch.tensor(s.completion_ids)[:, None])[:, 0]


@pytest.fixture(scope="module")
def eager_model(tiny_llama):
    """The same weights with transformers' eager attention: the reference for packed attention."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation="eager").eval()


def test_packed_logprobs_equal_each_sequence_alone(tiny_llama, eager_model):
    """Would fail if packed sequences attended to each other or positions leaked."""
    learner = Learner(tiny_llama, LearnerConfig(micro_batch_tokens=4096, logprob_chunk_tokens=3))
    batch = samples()
    for s, lp in zip(batch, learner.compute_logprobs(batch)):
        torch.testing.assert_close(torch.tensor(lp), logprobs_alone(eager_model, s), atol=1e-4, rtol=1e-4)


def test_shared_prompts_give_the_same_logprobs_from_a_shorter_row(tiny_llama, eager_model):
    """Two GRPO groups of 3: each prompt is in the packed row once, each completion sees only it."""
    g = torch.Generator().manual_seed(1)
    batch = []
    for j, n in enumerate((6, 4)):
        prompt = torch.randint(5, 900, (n,), generator=g).tolist()
        for k in range(3):
            c = torch.randint(5, 900, (2 + k + j,), generator=g).tolist()
            batch.append(TrainSample(prompt, c, 1.0, [0.0] * len(c)))
    learner = Learner(tiny_llama, LearnerConfig(micro_batch_tokens=4096))
    assert learner.share_prompts  # llama: every layer is plain causal attention
    assert pack(batch, share_prompts=True).input_ids.shape[1] == sum(len(s) for s in batch) - 2 * (6 + 4)
    for s, lp in zip(batch, learner.compute_logprobs(batch)):
        torch.testing.assert_close(torch.tensor(lp), logprobs_alone(eager_model, s), atol=1e-4, rtol=1e-4)


def test_learner_logprobs_are_the_shared_formula_at_the_sampling_temperature(tiny_llama, eager_model):
    """The learner's chunked path gives rlsys.core.algorithms.token_logprobs of logits / T."""
    from rlsys.core import algorithms

    learner = Learner(tiny_llama, LearnerConfig(logprob_chunk_tokens=3), temperature=0.7)
    batch = samples()
    for s, lp in zip(batch, learner.compute_logprobs(batch)):
        ids = torch.tensor([s.prompt_ids + s.completion_ids])
        with torch.no_grad():
            logits = eager_model(ids).logits[:, len(s.prompt_ids) - 1 : -1]
        expected = algorithms.token_logprobs(logits, torch.tensor([s.completion_ids]), temperature=0.7)[0]
        torch.testing.assert_close(torch.tensor(lp), expected, atol=1e-4, rtol=1e-4)
        assert (expected - logprobs_alone(eager_model, s)).abs().max() > 1e-2  # T = 0.7 is not T = 1


def test_lr_schedule_spans_every_optimizer_step_with_several_epochs(tiny_llama):
    """epochs_per_step optimizer steps per RL step: a linear schedule must reach 0 at the last one."""
    learner = Learner(
        tiny_llama, LearnerConfig(lr=1e-3, lr_schedule="linear"), AlgorithmConfig(epochs_per_step=2), total_steps=3
    )
    batch = samples(2)
    tokens = sum(len(s.completion_ids) for s in batch)
    lrs = [learner.train_step(batch, tokens, len(batch))["lr"] for _ in range(3)]
    # 3 RL steps x 2 epochs = 6 optimizer steps; after 2, 4, 6 of them: 1e-3 * (1 - 2/6, 1 - 4/6, 0)
    assert lrs == pytest.approx([1e-3 * 4 / 6, 1e-3 * 2 / 6, 0.0])


def test_shared_prompt_pack_layout():
    a, b, t = (
        TrainSample([1, 2], [3, 4], 1.0, [0.0] * 2),
        TrainSample([1, 2], [5], 1.0, [0.0]),
        TrainSample([6], [7], 1.0, [0.0]),
    )
    p = pack([a, b, t], share_prompts=True)
    assert p.input_ids.tolist() == [[1, 2, 3, 4, 5, 6, 7]]
    assert p.position_ids.tolist() == [[0, 1, 2, 3, 2, 0, 1]]
    assert p.predict_at.tolist() == [1, 2, 1, 5] and p.targets.tolist() == [3, 4, 5, 7]


def test_deepspeed_export_holds_each_tensor_alone(tiny_llama):
    """ZeRO-2 parameters are views of one flat buffer; exporting them as views would ship the whole
    buffer once per tensor through Ray's object store."""
    from actors.distributed import free_port

    learner = Learner(tiny_llama, LearnerConfig(strategy="deepspeed", zero_stage=2), master_port=free_port())
    try:
        payload = learner.export_weights(version=3)
        model_bytes = sum(p.numel() * p.element_size() for p in learner.strategy.module.parameters())
    finally:
        learner.close()  # the process group: later tests in this process start their own
    assert payload.version == 3
    sent = {v.untyped_storage().data_ptr(): v.untyped_storage().nbytes() for v in payload.data.values()}
    assert sum(sent.values()) <= model_bytes
    for name, v in payload.data.items():
        assert v.untyped_storage().nbytes() == v.numel() * v.element_size(), name


@pytest.mark.parametrize("agg", ["token_mean", "seq_mean_token_mean"])
def test_gradient_does_not_depend_on_micro_batching(tiny_llama, agg):
    """The same batch split into 1 or many micro-batches gives the same update."""
    algo = AlgorithmConfig(loss_agg=agg)
    batch = samples()
    total_tokens = sum(len(s.completion_ids) for s in batch)
    grads = []
    for budget in (4096, 24):
        learner = Learner(tiny_llama, LearnerConfig(micro_batch_tokens=budget), algo)
        captured = {}

        def capture(model=learner.strategy.module, captured=captured):  # stands in for the optimizer step
            captured.update({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
            return 0.0

        learner.strategy.step = capture
        learner.train_step(batch, total_tokens, len(batch))
        grads.append(captured)
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for key in grads[0]:
        torch.testing.assert_close(grads[0][key], grads[1][key], atol=1e-6, rtol=1e-4)


def step_grads(learner, batch, total_tokens):
    """Gradients of one train_step (the optimizer step is replaced by a capture) and its metrics."""
    captured = {}

    def capture(model=learner.strategy.module):
        captured.update({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
        model.zero_grad(set_to_none=True)
        return 0.0

    learner.strategy.step = capture
    metrics = learner.train_step(batch, total_tokens, len(batch))
    return captured, metrics


def assert_same_grads(a, b):
    assert a.keys() == b.keys() and a
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-4)


def test_rollout_correction_in_the_learner(tiny_llama):
    """The engine gave sample 0 a quarter of the learner's probability on every token (rho = 4).
    TIS (cap 2) is the same update as doubling its advantage; MIS ([0.5, 2]) drops its gradient
    but keeps its tokens in the normalizer; both count it in their metrics."""
    import dataclasses
    import math

    batch = [s for s in samples() if s.advantage != 0]
    learner = Learner(tiny_llama, LearnerConfig())
    agreeing = [dataclasses.replace(s, rollout_logprobs=lp) for s, lp in zip(batch, learner.compute_logprobs(batch))]
    off = [dataclasses.replace(agreeing[0], rollout_logprobs=[x - math.log(4) for x in agreeing[0].rollout_logprobs])]
    off += agreeing[1:]
    total = sum(len(s.completion_ids) for s in batch)
    share0 = len(batch[0].completion_ids) / total

    def run(kind, data, tokens=total):
        algo = AlgorithmConfig(rollout_correction={"type": kind, "tis_cap": 2.0, "mis_low": 0.5, "mis_high": 2.0})
        return step_grads(Learner(tiny_llama, LearnerConfig(), algo), data, tokens)

    tis, m = run("tis", off)
    doubled, _ = run("none", [dataclasses.replace(agreeing[0], advantage=2 * batch[0].advantage)] + agreeing[1:])
    assert_same_grads(tis, doubled)
    assert m["rollout_is/truncated_frac"] == pytest.approx(share0) and m["rollout_is/masked_frac"] == pytest.approx(
        share0
    )
    assert m["rollout_is/ratio_max"] == pytest.approx(4, rel=1e-4) and m["rollout_is/ratio_p50"] == pytest.approx(
        1, abs=1e-4
    )
    assert m["logprob_diff_rollout"] == pytest.approx(share0 * math.log(4), rel=1e-4)
    mis, _ = run("mis", off)
    without, _ = run("none", agreeing[1:], total)  # same normalizer: the masked tokens still count
    assert_same_grads(mis, without)
    none, m0 = run("none", off)  # off by default: the mismatch is measured, not corrected
    plain, _ = run("none", agreeing)
    assert_same_grads(none, plain)
    assert m0["rollout_is/truncated_frac"] == pytest.approx(share0)


def test_kl_k1_is_logged_beside_the_loss_estimator(tiny_llama):
    learner = Learner(tiny_llama, LearnerConfig(lr=1e-2), AlgorithmConfig(kl_coef=0.1))
    batch = [s for s in samples() if s.advantage != 0]
    tokens = sum(len(s.completion_ids) for s in batch)
    first = learner.train_step(batch, tokens, len(batch))
    assert first["kl"] == pytest.approx(0, abs=1e-6) and first["kl_k1"] == pytest.approx(0, abs=1e-6)
    second = learner.train_step(batch, tokens, len(batch))  # the policy has moved from the reference
    assert second["kl"] > 0 and second["kl_k1"] != 0


def test_train_step_moves_logprobs_in_the_direction_of_the_advantage(tiny_llama):
    learner = Learner(tiny_llama, LearnerConfig(lr=1e-3))
    batch = [s for s in samples() if s.advantage != 0]
    before = learner.compute_logprobs(batch)
    metrics = learner.train_step(batch, sum(len(s.completion_ids) for s in batch), len(batch))
    after = learner.compute_logprobs(batch)
    for s, b, a in zip(batch, before, after):
        change = sum(a) - sum(b)
        assert change * s.advantage > 0, (s.advantage, change)
    assert metrics["grad_norm"] > 0 and metrics["tokens"] == sum(len(s.completion_ids) for s in batch)
    assert metrics["clip_fraction"] == 0.0  # on-policy: ratio is exactly 1


def test_bfloat16_autocast_trains_fp32_weights_with_close_logprobs(tiny_llama):
    batch = [s for s in samples() if s.advantage != 0]
    fp32 = Learner(tiny_llama, LearnerConfig()).compute_logprobs(batch)
    learner = Learner(tiny_llama, LearnerConfig(lr=1e-3, autocast="bfloat16"))
    before = learner.compute_logprobs(batch)
    diff = max(abs(a - b) for x, y in zip(fp32, before) for a, b in zip(x, y))
    assert 1e-4 < diff < 0.1, diff  # the matmuls ran in bfloat16, and stayed close to float32
    learner.train_step(batch, sum(len(s.completion_ids) for s in batch), len(batch))
    after = learner.compute_logprobs(batch)
    for s, b, a in zip(batch, before, after):
        assert (sum(a) - sum(b)) * s.advantage > 0
    assert {p.dtype for p in learner.strategy.module.parameters()} == {torch.float32}


def test_learner_uses_every_core_and_rejects_missing_model(tiny_llama, tmp_path):
    import os

    Learner(tiny_llama, LearnerConfig())
    assert torch.get_num_threads() == (os.cpu_count() or 1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Learner(str(tmp_path / "missing"), LearnerConfig())


def test_pack_layout():
    s = TrainSample([1, 2], [3, 4, 5], 1.0, [0.0] * 3)
    t = TrainSample([6], [7], 1.0, [0.0])
    p = pack([s, t])
    assert p.input_ids.tolist() == [[1, 2, 3, 4, 5, 6, 7]]
    assert p.position_ids.tolist() == [[0, 1, 2, 3, 4, 0, 1]]
    assert p.predict_at.tolist() == [1, 2, 3, 5] and p.targets.tolist() == [3, 4, 5, 7]
