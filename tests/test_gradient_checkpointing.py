"""`learner.gradient_checkpointing: true` really checkpoints: every decoder layer's forward runs
again in backward, far fewer activations are kept for backward, and the gradients are the ones
of the plain run. The learner keeps the model in eval mode (no dropout), where transformers
would not checkpoint at all (the old behaviour: the setting did nothing)."""

import pytest
import torch

from actors.learner import Learner
from rlsys.core.config import LearnerConfig
from rlsys.core.types import TrainSample


def batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        p = torch.randint(5, 900, (4 + i,), generator=g).tolist()
        c = torch.randint(5, 900, (6 + 3 * i,), generator=g).tolist()
        out.append(TrainSample(p, c, advantage=float(i - 2.5), rollout_logprobs=[-1.0] * len(c)))
    return out


def run_step(model_path, checkpointing: bool):
    """One train step; returns (layer-0 forward count, bytes saved for backward, gradients)."""
    learner = Learner(model_path, LearnerConfig(gradient_checkpointing=checkpointing))
    module = learner.strategy.module
    calls = []
    # a pre-hook on the layer's first submodule: recomputation in backward starts there
    module.model.layers[0].input_layernorm.register_forward_pre_hook(lambda *_: calls.append(1))
    saved = []

    def pack_hook(t):
        saved.append(t.numel() * t.element_size())
        return t

    grads = {}

    def capture():  # stands in for the optimizer step
        grads.update({n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None})
        return 0.0

    learner.strategy.step = capture
    samples = batch()
    with torch.autograd.graph.saved_tensors_hooks(pack_hook, lambda t: t):
        learner.train_step(samples, sum(len(s.completion_ids) for s in samples), len(samples))
    assert not module.training  # dropout stays off
    return len(calls), sum(saved), grads


@pytest.fixture(scope="module")
def both_runs(tiny_llama):
    return run_step(tiny_llama, False), run_step(tiny_llama, True)


def test_checkpointed_layers_run_forward_again_in_backward(both_runs):
    (plain_calls, _, _), (ckpt_calls, _, _) = both_runs
    assert plain_calls == 1  # one micro-batch
    assert ckpt_calls == 2  # and its recomputation in backward


def test_checkpointing_keeps_fewer_activations_for_backward(both_runs):
    (_, plain_bytes, _), (_, ckpt_bytes, _) = both_runs
    # outside the checkpointed layers only embeddings, final norm and the log-prob head keep tensors
    assert ckpt_bytes < 0.6 * plain_bytes, (ckpt_bytes, plain_bytes)


def test_checkpointed_gradients_equal_plain_ones(both_runs):
    (_, _, plain), (_, _, ckpt) = both_runs
    assert plain.keys() == ckpt.keys() and plain
    for name in plain:
        torch.testing.assert_close(ckpt[name], plain[name], atol=1e-6, rtol=1e-5, msg=name)
