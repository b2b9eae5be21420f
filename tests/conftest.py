"""Shared test setup: offline, quiet vLLM in-process, tiny models built once per session.

Every test runs on CPU without the network. vLLM runs in-process
(VLLM_ENABLE_V1_MULTIPROCESSING=0) with a small KV cache, as FIELD_NOTES.md recommends.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("VLLM_CACHE_ROOT", tempfile.mkdtemp(prefix="rlsys-test-vllm-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# DeepSpeed's CPU op is built per checkout (its build arguments name the venv's path: checkouts
# sharing one folder rebuild over each other); actors/ds_ops.py explains the lock it guards.
os.environ.setdefault(
    "TORCH_EXTENSIONS_DIR",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache", "torch_extensions"),
)

import pytest  # noqa: E402

# `make test-fast`: the modules that start no Ray, vLLM, sandbox, server, learner or subprocess
# (about a minute on 2 cores); everything else needs `make test`.
FAST_MODULES = {
    "test_algorithms",
    "test_algorithms_offpolicy",
    "test_batch",
    "test_client",
    "test_compose",
    "test_configs",
    "test_conversation_constraints",
    "test_data",
    "test_ifeval_agreement",
    "test_ifmt",
    "test_instruction_linear",
    "test_instructions",
    "test_language_detector",
    "test_interfaces",
    "test_languages",
    "test_layering",
    "test_learning_parity",
    "test_math_reward",
    "test_packing",
    "test_pretrain_data",
    "test_pretrain_losses",
    "test_reward_contract",
    "test_reward_deadline",
    "test_reward_plugins",
    "test_toy_world",
    "test_translation_rules",
}


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip = pytest.mark.skip(reason="needs a CUDA GPU; this machine has none")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip)
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in FAST_MODULES:
            item.add_marker(pytest.mark.fast)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    """A tiny random Llama (hidden 128, 2 layers, head_dim 32) with a chat tokenizer."""
    from rlsys.toy.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "llama", "llama"))
