"""Sequence packing for CPT/SFT, block-diagonal attention masks, and preference batches.

Why: short documents padded to `max_tokens` waste most of a batch; packing several documents
into one row keeps every token useful, but only if no document can see, or be scored against,
another. A packed row carries, per token: `input_ids`, `labels` (the document's own labels, plus
-100 at each document's first token, so the last token of one document is never trained to
predict the first token of the next), `position_ids` restarting at 0 for each document, and the
document lengths (`seq_lens`, and `cu_seqlens` for varlen kernels).

What the learner passes to a Hugging Face causal LM (checked against transformers 5.19, Llama
and Qwen2 share the code path; see tests/test_packing.py):

    batch = collate_packed(rows, pad_id)
    out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                attention_mask=None, use_cache=False)          # sdpa, eager, flex, flash_attention_2
    loss, n_tokens = masked_ce(out.logits, batch["labels"])    # losses.py

  transformers derives the block-diagonal causal mask from `position_ids` (masking_utils
  `find_packed_sequence_indices`; flash-attention derives cu_seqlens the same way) ONLY when the
  2-D `attention_mask` is None AND there is no KV cache. `use_cache=False` is required:
  with the default `use_cache=True` the model builds a DynamicCache, the packed detection is
  skipped, and documents silently attend to each other (tests/test_packing.py shows it).
  rlsys's learner loads plain-causal models (llama, qwen2) with `actors.packed_attention`, which
  takes the same position-id route but runs attention per document instead of building the
  dense [T, T] mask (3x faster on packed rows). Alternatively, for sdpa/eager, pass the 4-D mask
  yourself:

    mask = block_causal_mask(batch["document_ids"], dtype=model.dtype)   # additive float [B,1,T,T]
    out = model(input_ids=..., position_ids=..., attention_mask=mask)

  A 4-D mask is used as-is by transformers (bool: True = attend, works with sdpa only; additive
  float: 0 / finfo.min, works with sdpa and eager). It costs B*T*T memory.

  flash_attention_2 (read from the 5.19 source, not run here: no GPU in the test suite): it
  infers documents from `position_ids` only when the batch has ONE row (`_is_packed_sequence`
  checks batch_size == 1); with B > 1 rows it would silently run plain causal attention per row.
  Either flatten the batch (`t.view(1, -1)` for input_ids, position_ids and labels; every row
  and padding segment already starts at position 0, and every document start has label -100, so
  this is exact), or pass `cu_seq_lens_q=cu_seq_lens_k=batch["cu_seqlens"]` and
  `max_length_q=max_length_k=batch["max_seqlen"]` as extra model kwargs.

Padding (to the longest row, or `pad_to`) is its own pseudo-document: pad ids, labels -100,
positions restarting at 0, so it never touches real tokens under any of the routes above.

Preference batches are not packed: `pad_preference_batch` right-pads [chosen rows; rejected
rows] with a 2-D attention mask, the ordinary path.

Not covered: splitting one document across rows (use on_overlength="split" first),
packing preference pairs, context parallelism.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from pretrain_sft.examples import IGNORE_INDEX, PreferenceExample, TokenizedExample

STRATEGIES = ("sequential", "best_fit")


@dataclasses.dataclass
class PackedRow:
    """Several documents in one row (no padding); `seq_lens` are the document lengths in order."""

    input_ids: list[int]
    labels: list[int]
    position_ids: list[int]
    seq_lens: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def _make_row(docs: Sequence[TokenizedExample]) -> PackedRow:
    row = PackedRow([], [], [], [])
    for doc in docs:
        row.input_ids += doc.input_ids
        row.labels += [IGNORE_INDEX] + doc.labels[1:]  # no loss across the boundary into this doc
        row.position_ids += range(len(doc))
        row.seq_lens.append(len(doc))
    return row


def _sequential(examples: Iterable[TokenizedExample], max_tokens: int) -> list[list[TokenizedExample]]:
    bins: list[list[TokenizedExample]] = [[]]
    used = 0
    for example in examples:
        if used + len(example) > max_tokens and bins[-1]:
            bins.append([])
            used = 0
        bins[-1].append(example)
        used += len(example)
    return [b for b in bins if b]


def _best_fit(examples: Iterable[TokenizedExample], max_tokens: int) -> list[list[TokenizedExample]]:
    bins: list[list[TokenizedExample]] = []
    free: list[tuple[int, int]] = []  # sorted (room left, bin index)
    for example in sorted(examples, key=len, reverse=True):
        slot = bisect.bisect_left(free, (len(example), -1))
        if slot == len(free):
            bins.append([example])
            bisect.insort(free, (max_tokens - len(example), len(bins) - 1))
            continue
        room, index = free.pop(slot)
        bins[index].append(example)
        bisect.insort(free, (room - len(example), index))
    return bins


def pack_examples(
    examples: Iterable[TokenizedExample], max_tokens: int, *, strategy: str = "sequential"
) -> list[PackedRow]:
    """Pack documents into rows of at most `max_tokens` tokens, never splitting a document.

    "sequential" keeps the input order (a new row starts when the next document does not fit);
    "best_fit" sorts by length and puts each document in the fullest row it fits (denser, but
    reorders: shuffle the rows afterwards). Deterministic for a given input.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    examples = list(examples)
    too_long = next((i for i, e in enumerate(examples) if len(e) > max_tokens), None)
    if too_long is not None:
        raise ValueError(
            f"example {too_long} has {len(examples[too_long])} tokens > max_tokens {max_tokens}; "
            "apply on_overlength (build_examples) before packing"
        )
    if any(len(e) == 0 for e in examples):
        raise ValueError("cannot pack an empty example")
    bins = _sequential(examples, max_tokens) if strategy == "sequential" else _best_fit(examples, max_tokens)
    return [_make_row(docs) for docs in bins]


def collate_packed(rows: Sequence[PackedRow], pad_id: int, *, pad_to: int | None = None) -> dict:
    """Stack packed rows into tensors, padding each to the longest row (or `pad_to`).

    Returns input_ids, labels, position_ids, document_ids (LongTensor [B, T]; padding has its own
    id), seq_lens (list per row, real documents only), cu_seqlens (int32 [S+1] over the B*T
    flattened tokens, padding segments included, for varlen attention kernels), max_seqlen,
    num_loss_tokens.
    """
    width = max(len(row) for row in rows) if pad_to is None else pad_to
    if any(len(row) > width for row in rows):
        raise ValueError(f"a row is longer than pad_to={pad_to}")
    fields: dict[str, list[list[int]]] = {name: [] for name in ("input_ids", "labels", "position_ids", "document_ids")}
    segments: list[int] = []
    for row in rows:
        pad = width - len(row)
        fields["input_ids"].append(row.input_ids + [pad_id] * pad)
        fields["labels"].append(row.labels + [IGNORE_INDEX] * pad)
        fields["position_ids"].append(row.position_ids + list(range(pad)))
        doc_ids = [i for i, n in enumerate(row.seq_lens) for _ in range(n)]
        fields["document_ids"].append(doc_ids + [len(row.seq_lens)] * pad)
        segments += row.seq_lens + ([pad] if pad else [])
    batch: dict[str, Any] = {name: torch.tensor(values, dtype=torch.long) for name, values in fields.items()}
    batch["seq_lens"] = [list(row.seq_lens) for row in rows]
    batch["cu_seqlens"] = torch.tensor([0, *segments], dtype=torch.int32).cumsum(0, dtype=torch.int32)
    batch["max_seqlen"] = max(segments)
    batch["num_loss_tokens"] = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    return batch


def block_causal_mask(document_ids: torch.Tensor, *, dtype: torch.dtype = torch.bool) -> torch.Tensor:
    """[B, 1, T, T] mask: query i may attend key j iff same document and j <= i.

    `dtype=torch.bool` gives True = attend (sdpa); a float dtype gives an additive mask with 0
    where allowed and finfo(dtype).min elsewhere (sdpa and eager). Pass it as `attention_mask`.
    """
    if document_ids.dim() != 2:
        raise ValueError(f"document_ids must be [B, T], got {tuple(document_ids.shape)}")
    width = document_ids.shape[1]
    same_doc = document_ids[:, :, None] == document_ids[:, None, :]
    causal = torch.ones(width, width, dtype=torch.bool, device=document_ids.device).tril()
    allowed = (same_doc & causal)[:, None]
    if dtype == torch.bool:
        return allowed
    zero = torch.zeros((), dtype=dtype, device=document_ids.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


def pad_preference_batch(examples: Sequence[PreferenceExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch of 2B rows: rows [0, B) are prompt+chosen, rows [B, 2B) prompt+rejected.

    Returns input_ids, attention_mask, labels ([2B, T]; labels are -100 on the prompt and the
    padding) and scores_chosen/scores_rejected ([B], NaN where a row has no score). Use
    `sequence_logprobs(logits, labels).chunk(2)` to get (chosen, rejected) log-probabilities.
    """
    sequences, labels = [], []
    for side in ("chosen_ids", "rejected_ids"):
        for example in examples:
            completion = getattr(example, side)
            sequences.append(example.prompt_ids + completion)
            labels.append([IGNORE_INDEX] * len(example.prompt_ids) + completion)
    width = max(len(s) for s in sequences)
    pad = [width - len(s) for s in sequences]
    nan = float("nan")
    return {
        "input_ids": torch.tensor([s + [pad_id] * p for s, p in zip(sequences, pad)], dtype=torch.long),
        "attention_mask": torch.tensor([[1] * len(s) + [0] * p for s, p in zip(sequences, pad)], dtype=torch.long),
        "labels": torch.tensor([lab + [IGNORE_INDEX] * p for lab, p in zip(labels, pad)], dtype=torch.long),
        "scores_chosen": torch.tensor([nan if e.score_chosen is None else e.score_chosen for e in examples]),
        "scores_rejected": torch.tensor([nan if e.score_rejected is None else e.score_rejected for e in examples]),
    }
