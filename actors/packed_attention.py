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

On CUDA, in bfloat16 / float16, rows whose sequences all start at position 0 go through one
variable-length flash-attention call instead (`flash_attn.flash_attn_varlen_func` when the
flash-attn package is installed, else torch's `torch.nn.attention.varlen.varlen_attn`): no
Python loop over sequences and no host sync when the caller passes the sequence boundaries
(`varlen_kwargs`, transformers' `cu_seq_lens_q` / `max_length_q` names) to the model's forward.
The learner then packs every sample whole (no shared prompts: `uses_varlen`).

Not covered: padding masks and KV caches (handed to transformers' SDPA unchanged), sliding
window or soft-capped attention (`attention_for` picks another implementation for those),
shared prompts through the varlen kernels (they take the per-sequence SDPA path).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch

PACKED_ATTENTION = "rlsys_packed_sdpa"
HALF = (torch.bfloat16, torch.float16)


@functools.cache
def _varlen_kernel() -> Callable | None:
    """flash-attn's varlen function, else torch's (its keywords changed across releases: causal
    is `is_causal` in some, `window_size=(-1, 0)` in others; `scale` and `enable_gqa` came
    later), else None."""
    try:
        from flash_attn import flash_attn_varlen_func
    except ImportError:
        pass
    else:

        def flash(q, k, v, cu, max_len, scale):
            return flash_attn_varlen_func(q, k, v, cu, cu, max_len, max_len, softmax_scale=scale, causal=True)

        return flash
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    params = inspect.signature(varlen_attn).parameters
    causal: dict[str, Any]
    if "is_causal" in params:
        causal = {"is_causal": True}
    elif "window_size" in params:
        causal = {"window_size": (-1, 0)}
    else:
        return None
    gqa, has_scale = "enable_gqa" in params, "scale" in params

    def torch_varlen(q, k, v, cu, max_len, scale):
        extra = dict(causal)
        if has_scale:
            extra["scale"] = scale
        elif scale != q.shape[-1] ** -0.5:
            q = q * (scale * q.shape[-1] ** 0.5)  # scores scale with q: the kernel's default times this
        if k.shape[1] != q.shape[1]:
            if gqa:
                extra["enable_gqa"] = True
            else:
                k, v = (t.repeat_interleave(q.shape[1] // t.shape[1], dim=1) for t in (k, v))
        return varlen_attn(q, k, v, cu, cu, max_len, max_len, **extra)

    return torch_varlen


def uses_varlen(device: torch.device, compute_dtype: torch.dtype) -> bool:
    """Whether packed rows on `device`, computed in `compute_dtype`, take the varlen kernels."""
    return device.type == "cuda" and compute_dtype in HALF and _varlen_kernel() is not None


def varlen_kwargs(positions: Sequence[int], device: torch.device | str) -> dict[str, Any]:
    """Sequence boundaries of one packed row (host-side position ids: each sequence starts at 0),
    as the keyword arguments a transformers model forwards to its attention function."""
    starts = [i for i, p in enumerate(positions) if p == 0] + [len(positions)]
    if not positions or starts[0] != 0 or any(p != q + 1 for p, q in zip(positions[1:], positions) if p != 0):
        raise ValueError("varlen attention needs every sequence of the row to start at position 0")
    cu = torch.tensor(starts, dtype=torch.int32, device=device)
    longest = max(b - a for a, b in zip(starts, starts[1:]))
    return {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": longest, "max_length_k": longest}


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
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    if query.shape[0] == 1 and uses_varlen(query.device, query.dtype):
        cu, longest = kwargs.get("cu_seq_lens_q"), kwargs.get("max_length_q")
        if cu is None:  # boundaries from the position ids: one host sync per layer
            segments = _segments(pos[0])
            if all(s == 0 for *_, s in segments):
                cu = torch.tensor([a for a, *_ in segments] + [pos.shape[-1]], dtype=torch.int32, device=query.device)
                longest = max(n for _, n, *_ in segments)
        if cu is not None:
            return _varlen(module, query, key, value, cu, longest, scaling), None
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
    compute = torch.float32 if query.device.type == "cpu" and query.dtype in HALF else query.dtype
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


def _varlen(module, query, key, value, cu: torch.Tensor, longest: int, scaling: float | None) -> torch.Tensor:
    """[1, H, L, D] query / key / value of one packed row -> [1, L, H, D] attention output."""
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # [L, H, D]
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    kernel = _varlen_kernel()
    assert kernel is not None, "the varlen route is chosen only when a kernel exists (varlen_kwargs)"
    return kernel(q, k, v, cu, int(longest), scale)[None]


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
