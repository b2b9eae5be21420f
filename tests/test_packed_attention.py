"""`packed_sdpa` on packed rows: each sequence alone, gradients included, at a cost that does not
grow with the number of sequences in the row.

Why the cost test: slicing each sequence out of the row made autograd zero-fill and add a
full-row gradient per sequence in the backward (O(sequences x row length)); on the GRPO
benchmark batch (36 sequences in a 4,232-token row) that was most of the learner's step under
load (issue 14). The count of autograd nodes is the deterministic form of that cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from actors.learner import pack
from actors.packed_attention import packed_sdpa
from rlsys.core.types import TrainSample

H, HKV, D = 4, 2, 32


class Attn(torch.nn.Module):
    """What transformers' SDPA function reads from an attention module."""

    num_key_value_groups = H // HKV
    is_causal = True
    layer_idx = 0


def row(groups: int, per_group: int, prompt: int = 5, completion: int = 7, extra: tuple[int, ...] = ()):
    """A shared-prompt packed row: `groups` GRPO groups, plus lone samples of other lengths."""
    g = torch.Generator().manual_seed(0)
    batch = []
    for _ in range(groups):
        p = torch.randint(5, 900, (prompt,), generator=g).tolist()
        batch += [
            TrainSample(p, torch.randint(5, 900, (completion,), generator=g).tolist(), 0.0, [0.0] * completion)
            for _ in range(per_group)
        ]
    for n in extra:
        batch.append(TrainSample([7, 8], list(range(10, 10 + n)), 0.0, [0.0] * n))
    return batch, pack(batch, share_prompts=True)


def qkv(length: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, h, length, D, generator=g, requires_grad=True) for h in (H, HKV, HKV)]


def reference(q, k, v, segments):
    """Each sequence attended alone: causal over (its shared prefix +) itself, plain SDPA."""
    out = torch.zeros(q.shape[2], H, D)
    for start, n, prefix_start, s in segments:
        cols = list(range(prefix_start, prefix_start + s)) + list(range(start, start + n))
        kk, vv = (t[:, :, cols].repeat_interleave(H // HKV, dim=1) for t in (k, v))
        full_q = torch.cat([q[:, :, prefix_start : prefix_start + s], q[:, :, start : start + n]], dim=2)
        o = F.scaled_dot_product_attention(full_q, kk, vv, is_causal=True)[0, :, s:]  # [H, n, D]
        out[start : start + n] = o.transpose(0, 1)
    return out[None]


def test_outputs_and_gradients_equal_each_sequence_alone():
    from actors.packed_attention import _segments

    _, packed = row(groups=2, per_group=3, extra=(4, 9))
    q, k, v = qkv(packed.input_ids.shape[1])
    grad = torch.randn(1, q.shape[2], H, D, generator=torch.Generator().manual_seed(2))
    got, _ = packed_sdpa(Attn(), q, k, v, None, position_ids=packed.position_ids)
    got_grads = torch.autograd.grad((got * grad).sum(), (q, k, v))
    want = reference(q, k, v, _segments(packed.position_ids[0]))
    want_grads = torch.autograd.grad((want * grad).sum(), (q, k, v))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def graph_size(out: torch.Tensor) -> int:
    seen, todo = set(), [out.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        todo += [n for n, _ in node.next_functions]
    return len(seen)


def test_backward_work_does_not_grow_with_the_number_of_sequences():
    sizes = []
    for per_group in (2, 16):
        _, packed = row(groups=3, per_group=per_group)
        q, k, v = qkv(packed.input_ids.shape[1])
        out, _ = packed_sdpa(Attn(), q, k, v, None, position_ids=packed.position_ids)
        sizes.append(graph_size(out))
    assert sizes[0] == sizes[1], f"autograd nodes: {sizes} for 6 and 48 sequences"


def test_half_precision_rows_attend_in_float32_on_cpu():
    """On CPU a bfloat16 row (autocast) attends in float32 and rounds once at the end: torch's
    bfloat16 SDPA backward is 2-3x slower there, and less precise. The forward is exact; the
    gradients are summed over gathered positions in bfloat16, so they match to bfloat16's precision."""
    from actors.packed_attention import _segments

    _, packed = row(groups=2, per_group=3, extra=(4, 9))
    q32, k32, v32 = qkv(packed.input_ids.shape[1])
    q, k, v = (t.detach().bfloat16().requires_grad_() for t in (q32, k32, v32))
    grad = torch.randn(1, q.shape[2], H, D, generator=torch.Generator().manual_seed(2)).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, _ = packed_sdpa(Attn(), q, k, v, None, position_ids=packed.position_ids)
    assert got.dtype == torch.bfloat16
    got_grads = torch.autograd.grad((got.float() * grad.float()).sum(), (q, k, v))
    exact = [t.detach().float().requires_grad_() for t in (q, k, v)]
    want = reference(*exact, _segments(packed.position_ids[0]))
    want_grads = torch.autograd.grad((want * grad.float()).sum(), exact)
    torch.testing.assert_close(got, want.bfloat16(), atol=0, rtol=0)
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b.bfloat16(), atol=2e-2, rtol=2e-2)
