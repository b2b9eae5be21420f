"""Every model family a shipped config names runs GRPO with weight sync into the real vLLM engine.

The learner speaks Hugging Face names; vLLM's loaders take checkpoint names and fuse q/k/v and
gate/up themselves. What the learner exports must therefore be exactly what a checkpoint holds:
a tied output embedding (qwen2, gemma2) is not a separate tensor in a checkpoint, and vLLM's
Gemma2 refuses `lm_head.weight` (`There is no module or parameter named 'lm_head'`). vLLM's
Qwen2 keeps its tied head as a module of its own, which on reload keeps a stale copy unless it
is fed the embedding again (the engine side does that: `actors.weight_sync.shared_names`); the
greedy test below catches either mistake.

Per family (tiny random models, `rlsys.toy.tiny`): the exported names equal the saved
checkpoint's, the engine's greedy output after a sync equals transformers' greedy output with
the learner's weights, and a short GRPO run on the real driver syncs weights every step.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from actors.learner import Learner
from actors.rollout import RolloutWorker
from rlsys.core.config import LearnerConfig, RLConfig, RolloutConfig, load_config, read_yaml
from rlsys.core.pipeline_config import CurateConfig, PipelineConfig
from rlsys.toy.tiny import ARCHS

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FAMILIES = {r"gemma-?2": "gemma2", r"qwen-?2": "qwen2", r"llama": "llama"}
"""Model folder name patterns of the shipped configs -> the family (a tiny model's is `llama`)."""


def family_of(model_path: str) -> str:
    for pattern, family in FAMILIES.items():
        if re.search(pattern, model_path, re.IGNORECASE):
            return family
    return "llama"  # runs/tiny, runs/quickstart/base-model: `rlsys tiny-model`'s default


def test_every_family_a_shipped_config_names_is_tested_here():
    families = set()
    for path in sorted(CONFIGS.rglob("*.yaml")):
        data = read_yaml(path)
        model = PipelineConfig if "stages" in data else CurateConfig if "sources" in data else RLConfig
        families.add(family_of(load_config(path, model=model).model.path))
    assert families == {"llama", "qwen2", "gemma2"}
    assert families <= set(ARCHS)


@pytest.fixture(scope="module", params=ARCHS)
def tiny(request, tmp_path_factory):
    from rlsys.toy.tiny import build_tiny_model

    return request.param, str(build_tiny_model(tmp_path_factory.mktemp("arch") / request.param, request.param))


def checkpoint_names(model_dir: str) -> set[str]:
    from safetensors import safe_open

    names: set[str] = set()
    for f in Path(model_dir).glob("*.safetensors"):
        with safe_open(str(f), "pt") as fh:
            names |= set(fh.keys())
    return names


def test_exported_names_are_the_checkpoint_names(tiny):
    arch, path = tiny
    payload = Learner(path, LearnerConfig()).export_weights(1)
    assert set(payload.data) == checkpoint_names(path), arch


def greedy_hf(model, prompts, n=8):
    out = []
    for p in prompts:
        ids = torch.tensor([p])
        with torch.no_grad():
            seq = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=n,
                min_new_tokens=n,
                eos_token_id=None,
                pad_token_id=0,
            )
        out.append(seq[0, len(p) :].tolist())
    return out


def greedy_vllm(worker, prompts, n=8):
    from vllm import SamplingParams

    outs = worker.backend.llm.generate(
        [{"prompt_token_ids": p} for p in prompts],
        SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True),
        use_tqdm=False,
    )
    return [list(o.outputs[0].token_ids) for o in outs]


def test_after_a_sync_the_engine_runs_the_learners_weights(tiny):
    arch, path = tiny
    worker = RolloutWorker(path, RolloutConfig(samples_per_prompt=1, max_new_tokens=8, max_model_len=128))
    try:
        learner = Learner(path, LearnerConfig())
        with torch.no_grad():
            g = torch.Generator().manual_seed(5)
            for p in learner.strategy.module.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
        prompt_ids = [s.prompt_ids for s in worker.generate(["What is 2+3?", "Conta até três.", "Hallo!"])]
        before = greedy_vllm(worker, prompt_ids)
        worker.update_weights(learner.export_weights(1))
        after = greedy_vllm(worker, prompt_ids)
    finally:
        worker.shutdown()
    assert after != before, arch  # the engine really runs new weights ...
    assert after == greedy_hf(learner.strategy.module, prompt_ids), arch  # ... the learner's, every tensor of them


@pytest.mark.slow
def test_short_grpo_with_weight_sync(tiny, tmp_path):
    from rlsys.driver import train

    arch, path = tiny
    data = tmp_path / "rows.jsonl"
    data.write_text(
        "".join(json.dumps({"prompt": f"Say {i}.", "reward": "contains", "answer": str(i)}) + "\n" for i in range(4))
    )
    cfg = RLConfig.model_validate(
        {
            "run": {"output_dir": str(tmp_path / "run")},
            "model": {"path": path},
            "cluster": {"type": "inline"},
            "data": {"path": str(data)},
            "rollout": {"samples_per_prompt": 2, "max_new_tokens": 6, "max_model_len": 128},
            "learner": {"lr": 1e-3, "micro_batch_tokens": 256},
            "algorithm": {"zero_variance_groups": "keep"},  # a random model rarely scores: train anyway
            "train": {"steps": 2, "prompts_per_step": 2},
        }
    )
    train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["weight_version"] for r in rows] == [1, 2], arch
    assert all(r["time/weight_sync_s"] > 0 for r in rows)
