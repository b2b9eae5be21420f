"""Packing: row layout, masks, and isolation of documents inside a real tiny Llama / Qwen2.

The model tests are the contract the learner relies on (see pretrain_sft/packing.py): the logits
of a document inside a packed row must equal the logits of that document run alone. The
negative controls show the comparison would fail if tokens attended across documents.
"""

from __future__ import annotations

import pytest
import torch

from pretrain_sft.examples import IGNORE_INDEX, PreferenceExample, TokenizedExample
from pretrain_sft.losses import masked_ce
from pretrain_sft.packing import block_causal_mask, collate_packed, pack_examples, pad_preference_batch

PAD = 0


def doc(ids: list[int], masked_prefix: int = 0) -> TokenizedExample:
    return TokenizedExample(ids, [IGNORE_INDEX] * masked_prefix + ids[masked_prefix:])


def test_sequential_packing_layout():
    docs = [doc([11, 12, 13]), doc([21, 22], masked_prefix=1), doc([31, 32, 33, 34]), doc([41])]
    rows = pack_examples(docs, max_tokens=6)
    # 3 + 2 = 5 fits in 6; 5 + 4 does not -> new row; 4 + 1 = 5 fits.
    assert [row.seq_lens for row in rows] == [[3, 2], [4, 1]]
    assert rows[0].input_ids == [11, 12, 13, 21, 22]
    assert rows[0].position_ids == [0, 1, 2, 0, 1]
    # Each document start is -100 (no loss predicting it from the previous document); the
    # second document's own prompt mask (its first token) is kept.
    assert rows[0].labels == [IGNORE_INDEX, 12, 13, IGNORE_INDEX, 22]
    assert rows[1].labels == [IGNORE_INDEX, 32, 33, 34, IGNORE_INDEX]

    batch = collate_packed(rows, PAD, pad_to=8)
    assert batch["input_ids"].tolist() == [[11, 12, 13, 21, 22, 0, 0, 0], [31, 32, 33, 34, 41, 0, 0, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1, 2], [0, 1, 2, 3, 0, 0, 1, 2]]
    assert batch["document_ids"].tolist() == [[0, 0, 0, 1, 1, 2, 2, 2], [0, 0, 0, 0, 1, 2, 2, 2]]
    assert batch["labels"][:, 5:].eq(IGNORE_INDEX).all()
    # Segments over the flattened 16 tokens: 3, 2, pad 3 | 4, 1, pad 3.
    assert batch["cu_seqlens"].tolist() == [0, 3, 5, 8, 12, 13, 16]
    assert batch["cu_seqlens"].dtype == torch.int32
    assert batch["max_seqlen"] == 4
    assert batch["seq_lens"] == [[3, 2], [4, 1]]
    assert batch["num_loss_tokens"] == 2 + 1 + 3  # 12,13 | 22 | 32,33,34


def test_best_fit_is_denser_and_keeps_every_document():
    lengths = [5, 4, 3, 3, 2, 2, 1]
    docs = [doc(list(range(100 * n, 100 * n + n))) for n in lengths]
    rows = pack_examples(docs, max_tokens=7, strategy="best_fit")
    assert sorted(n for row in rows for n in row.seq_lens) == sorted(lengths)
    assert all(len(row) <= 7 for row in rows)
    assert len(rows) == 3  # 20 tokens in 3 rows of 7; sequential order needs 4
    assert len(pack_examples(docs, max_tokens=7)) == 4


def test_packing_refuses_overlong_documents():
    with pytest.raises(ValueError, match="example 1 has 5 tokens > max_tokens 4"):
        pack_examples([doc([1, 2]), doc([1, 2, 3, 4, 5])], max_tokens=4)


def test_block_causal_mask_values():
    document_ids = torch.tensor([[0, 0, 1, 1]])
    allowed = block_causal_mask(document_ids)
    assert allowed.shape == (1, 1, 4, 4)
    assert allowed[0, 0].int().tolist() == [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [0, 0, 1, 0],  # token 2 starts document 1: it sees only itself
        [0, 0, 1, 1],
    ]
    additive = block_causal_mask(document_ids, dtype=torch.float32)
    assert additive.dtype == torch.float32
    assert torch.equal(additive == 0, allowed)
    assert additive[0, 0, 2, 1] == torch.finfo(torch.float32).min


def test_preference_batch_layout():
    pairs = [PreferenceExample([1, 2], [3, 4, 5], [6], 2.0, 1.0), PreferenceExample([7], [8], [9, 10], None, None)]
    batch = pad_preference_batch(pairs, PAD)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5], [7, 8, 0, 0, 0], [1, 2, 6, 0, 0], [7, 9, 10, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0]]
    x = IGNORE_INDEX
    assert batch["labels"].tolist() == [[x, x, 3, 4, 5], [x, 8, x, x, x], [x, x, 6, x, x], [x, 9, 10, x, x]]
    assert batch["scores_chosen"][0] == 2.0 and torch.isnan(batch["scores_chosen"][1])


# ---- real model: a packed document must see exactly what it sees alone ----------------------

DOC_LENGTHS = (5, 7, 4, 9)
MAX_TOKENS = 16


def tiny_model(arch: str, attn: str):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config_cls, model_cls = (LlamaConfig, LlamaForCausalLM) if arch == "llama" else (Qwen2Config, Qwen2ForCausalLM)
    config = config_cls(
        hidden_size=64,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=32,
        num_hidden_layers=2,
        vocab_size=100,
        intermediate_size=128,
    )
    torch.manual_seed(0)
    model = model_cls(config).eval()
    model.set_attn_implementation(attn)
    return model


@pytest.fixture(scope="module")
def packed():
    generator = torch.Generator().manual_seed(1)
    docs = [doc(torch.randint(1, 100, (n,), generator=generator).tolist()) for n in DOC_LENGTHS]
    rows = pack_examples(docs, MAX_TOKENS)
    assert [row.seq_lens for row in rows] == [[5, 7, 4], [9]]  # the second row is padded to 16
    return docs, collate_packed(rows, PAD, pad_to=MAX_TOKENS)


def assert_isolated(model, docs, batch, logits):
    starts = {0: 0, 1: 5, 2: 12, 3: 0}
    for i, d in enumerate(docs):
        alone = model(input_ids=torch.tensor([d.input_ids])).logits[0]
        row = 0 if i < 3 else 1
        inside = logits[row, starts[i] : starts[i] + len(d)]
        torch.testing.assert_close(inside, alone, rtol=1e-5, atol=1e-5, msg=f"document {i} leaks")


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@torch.no_grad()
def test_position_ids_route_isolates_documents(packed, arch, attn):
    docs, batch = packed
    model = tiny_model(arch, attn)
    out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], attention_mask=None, use_cache=False)
    assert_isolated(model, docs, batch, out.logits)


@torch.no_grad()
def test_flattened_batch_isolates_documents(packed):
    """The one-row layout recommended for flash_attention_2, checked here with sdpa."""
    docs, batch = packed
    model = tiny_model("llama", "sdpa")
    flat = model(
        input_ids=batch["input_ids"].view(1, -1), position_ids=batch["position_ids"].view(1, -1), use_cache=False
    ).logits
    assert_isolated(model, docs, batch, flat.view(2, MAX_TOKENS, -1))
    loss, count = masked_ce(flat, batch["labels"].view(1, -1))
    assert int(count) == batch["num_loss_tokens"]


@pytest.mark.parametrize("attn,dtype", [("sdpa", torch.bool), ("sdpa", torch.float32), ("eager", torch.float32)])
@torch.no_grad()
def test_4d_mask_route_isolates_documents(packed, attn, dtype):
    docs, batch = packed
    model = tiny_model("llama", attn)
    mask = block_causal_mask(batch["document_ids"], dtype=dtype)
    out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], attention_mask=mask)
    assert_isolated(model, docs, batch, out.logits)


@torch.no_grad()
def test_leaks_are_detected(packed):
    """Negative controls: with the KV cache on (the model default) or without position_ids,
    transformers does not build the packed mask and later documents attend to earlier ones."""
    docs, batch = packed
    model = tiny_model("llama", "sdpa")
    assert model.config.use_cache
    leaky_cache = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
    leaky_positions = model(input_ids=batch["input_ids"], use_cache=False).logits
    for logits in (leaky_cache, leaky_positions):
        with pytest.raises(AssertionError, match="document 1 leaks"):
            assert_isolated(model, docs, batch, logits)


@torch.no_grad()
def test_packed_loss_equals_token_weighted_loss_of_documents(packed):
    docs, batch = packed
    model = tiny_model("llama", "sdpa")
    out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False)
    packed_loss, count = masked_ce(out.logits, batch["labels"])
    total, tokens = 0.0, 0
    for d in docs:
        loss, n = masked_ce(model(input_ids=torch.tensor([d.input_ids])).logits, torch.tensor([d.labels]))
        total, tokens = total + loss * n, tokens + int(n)
    assert int(count) == tokens == sum(n - 1 for n in DOC_LENGTHS)
    torch.testing.assert_close(packed_loss, total / tokens, rtol=1e-5, atol=1e-6)
