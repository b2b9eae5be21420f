"""Attention over packed rows without a dense mask.

transformers' SDPA path builds one block-diagonal mask over the whole packed row and pays
L^2 attention for it (12 s instead of 4 s per GRPO step on 32 x 152 tokens, 2 CPU cores;
docs/benchmarks.md). `packed_sdpa` instead splits each row into its sequences by their
position ids and runs causal SDPA per sequence, batching sequences of equal shape. A sequence
whose positions start above 0 continues the prompt of the last sequence that started at 0
(the shared-prompt layout of `actors.learner.pack`), attending to that prefix in full. Each
group of sequences of one shape is gathered with one index, so the backward's work does not
grow with the number of sequences. On CPU a half-precision row attends in float32: torch's
bfloat16 SDPA backward is 2-3x slower there (45 % of a bfloat16-autocast GRPO step).

Not covered: padding masks and KV caches (handed to transformers' SDPA unchanged), sliding
window or soft-capped attention (`attention_for` picks another implementation for those).
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch

PACKED_ATTENTION = "rlsys_packed_sdpa"
HALF_DTYPES = (torch.bfloat16, torch.float16)


def _segments(pos: torch.Tensor) -> list[tuple[int, int, int, int]]:
    """(start, length, prefix start, prefix length) of each sequence in one packed row.

    A sequence starts where the position does not follow on. One starting at position 0 stands
    alone (prefix length 0); one starting at s > 0 continues the first s tokens of the last
    sequence that started at 0 (a shared prompt, see `pack`)."""
    cut = torch.ones_like(pos, dtype=torch.bool)
    cut[1:] = pos[1:] != pos[:-1] + 1
    starts = cut.nonzero().flatten().tolist()
    out, root = [], None  # root: (start, length) of the last sequence that began at position 0
    for a, b, first in zip(starts, starts[1:] + [pos.numel()], pos[starts].tolist()):
        if first > 0 and root is not None and root[1] >= first:
            out.append((a, b - a, root[0], first))
        else:
            root = (a, b - a) if first == 0 else None
            out.append((a, b - a, a, 0))
    return out


def packed_sdpa(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """transformers attention function: causal SDPA per sequence of each packed row (`_segments`).

    Sequences of equal length (and equal shared-prefix length) go through one SDPA call.
    Anything else (a padding mask, a KV cache) goes to transformers' own SDPA unchanged.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    pos = kwargs.get("position_ids")
    if attention_mask is not None or pos is None or query.shape[2] != key.shape[2]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    return _per_sequence(module, query, key, value, pos.expand(query.shape[0], -1), dropout, scaling), None


def _per_sequence(module, query, key, value, pos, dropout, scaling) -> torch.Tensor:
    """[B, H, L, D] query and [B, Hkv, L, D] key / value of packed rows -> [B, L, H, D] output.

    Each group of sequences of one shape is gathered with one index (and its output put back with
    one more): autograd then scatters each gradient once per group. Slicing every sequence out
    (`query[r, :, a:a + n]`) made the backward zero-fill and add a full-row gradient per
    sequence, O(sequences x row length): 11-13 % of a GRPO learner step's CPU time on the
    benchmark row, most of it under load."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    b, _, length, _ = query.shape
    # CPU: half-precision SDPA's backward is 2-3x slower than float32's (torch 2.13, AVX512-BF16: 0.32
    # vs 0.14 s for 32 x 16 heads x 128 tokens), so attention runs in float32 there (more precise,
    # too); on GPUs half precision is the fast path
    compute = torch.float32 if query.device.type == "cpu" and query.dtype in HALF_DTYPES else query.dtype
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (length, prefix len) -> (start, prefix start)
    for row in range(b):
        for a, n, f, s in _segments(pos[row]):
            groups.setdefault((n, s), []).append((row * length + a, row * length + f))
    q_all, k_all, v_all = (t.transpose(1, 2).reshape(b * length, t.shape[1], t.shape[3]) for t in (query, key, value))
    outs, order = [], []
    for (n, s), where in groups.items():
        starts, prefixes = (torch.tensor(c, device=query.device)[:, None] for c in zip(*where))
        idx = starts + torch.arange(n, device=query.device)
        kv_idx = torch.cat([prefixes + torch.arange(s, device=query.device), idx], dim=1) if s else idx
        q, k, v = (t[i].transpose(1, 2).to(compute) for t, i in ((q_all, idx), (k_all, kv_idx), (v_all, kv_idx)))
        # causal within the sequence, everything in its shared prefix
        mask = torch.ones(n, s + n, dtype=torch.bool, device=query.device).tril(s)[None, None] if s else None
        with torch.autocast("cpu", enabled=False) if compute != query.dtype else contextlib.nullcontext():
            out, _ = sdpa_attention_forward(module, q, k, v, mask, dropout=dropout, scaling=scaling, is_causal=True)
        outs.append(out.reshape(-1, *out.shape[2:]).to(query.dtype))  # [m * n, H, D]
        order.append(idx.reshape(-1))
    order_all = torch.cat(order)
    inverse = torch.empty_like(order_all)
    inverse[order_all] = torch.arange(order_all.numel(), device=query.device)
    return torch.cat(outs)[inverse].view(b, length, *outs[0].shape[1:])


def _packed_mask(*args, attention_mask=None, use_vmap=False, **kwargs):
    """No dense mask for packed rows (packed_sdpa splits them); transformers' SDPA mask otherwise."""
    from transformers.masking_utils import sdpa_mask

    if attention_mask is None and not use_vmap:
        return None
    return sdpa_mask(*args, attention_mask=attention_mask, use_vmap=use_vmap, **kwargs)


def attention_for(config: Any) -> str | None:
    """gemma2: eager (SDPA skips its attention soft-capping; eager matches vLLM, tests/test_tiny_model.py).
    Models whose layers are all plain causal attention: packed_sdpa. Others: transformers' default."""
    if config.model_type == "gemma2":
        return "eager"
    layer_types = getattr(config, "layer_types", None) or ["full_attention"]
    if getattr(config, "attn_logit_softcapping", None) or set(layer_types) != {"full_attention"}:
        return None
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(PACKED_ATTENTION, packed_sdpa)
    AttentionMaskInterface.register(PACKED_ATTENTION, _packed_mask)
    return PACKED_ATTENTION
