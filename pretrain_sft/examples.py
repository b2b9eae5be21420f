"""Tokenized examples, the max-length policy, and the loop that turns records into examples.

Why: every data kind ends as one of two shapes (a token sequence with labels, or a preference
pair), and the overlength rule (`on_overlength`) and the bookkeeping (`DataStats`) should be
written once. Formatters (formatting.py) see one row and raise `DataError` without a location;
`build_examples` adds the file and row.

Label convention (the Hugging Face one): `labels` is aligned with `input_ids`; -100 means "no
loss on predicting this token"; the model's logits at position t are scored against labels[t+1].

Overlength policy (`on_overlength`, compared with `max_tokens`):
- "error": raise `DataError` naming the row and field.
- "drop": skip the row; counted in `stats.dropped`.
- "truncate": keep the first `max_tokens` tokens (sequence examples), or cut both completions at
  the right so prompt + completion fits (preference pairs); counted in `stats.truncated` and
  `stats.truncated_tokens`. A row with nothing left to learn after the cut (no label tokens, a
  prompt that alone fills `max_tokens`, or chosen and rejected cut to the same tokens) is
  dropped and counted in `stats.dropped`, never kept silently.
- "split": cut a sequence example into consecutive chunks of `max_tokens` (meant for CPT text,
  where truncation would throw text away); counted in `stats.split`. Not valid for preference
  pairs. A chunk's first token gets no loss once packed (packing masks every document start).

Not covered: sliding-window chunking with overlap, prompt truncation from the left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from pretrain_sft.data import ON_OVERLENGTH, DataError, DataStats, Records

IGNORE_INDEX = -100


@dataclasses.dataclass
class TokenizedExample:
    """One document for CPT/SFT: token ids and HF-style labels (-100 = no loss)."""

    input_ids: list[int]
    labels: list[int]
    source: str = "text"  # the row field the tokens came from, for error messages

    def __post_init__(self):
        if len(self.input_ids) != len(self.labels):
            raise ValueError(f"input_ids ({len(self.input_ids)}) and labels ({len(self.labels)}) differ in length")

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def num_loss_tokens(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels[1:])


@dataclasses.dataclass
class PreferenceExample:
    """One preference pair: prompt ids and the two completions (every completion token has loss)."""

    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]
    score_chosen: float | None = None
    score_rejected: float | None = None

    def __len__(self) -> int:
        return len(self.prompt_ids) + max(len(self.chosen_ids), len(self.rejected_ids))


Example = TokenizedExample | PreferenceExample


def _cut_sequence(example: TokenizedExample, max_tokens: int, stats: DataStats) -> list[Example]:
    cut = TokenizedExample(example.input_ids[:max_tokens], example.labels[:max_tokens], example.source)
    if cut.num_loss_tokens == 0:
        stats.dropped += 1
        return []
    stats.truncated += 1
    stats.truncated_tokens += len(example) - max_tokens
    return [cut]


def _split_sequence(example: TokenizedExample, max_tokens: int, stats: DataStats) -> list[Example]:
    chunks = [
        TokenizedExample(example.input_ids[i : i + max_tokens], example.labels[i : i + max_tokens], example.source)
        for i in range(0, len(example), max_tokens)
    ]
    stats.split += 1
    return [chunk for chunk in chunks if chunk.num_loss_tokens > 0]


def _cut_pair(example: PreferenceExample, max_tokens: int, stats: DataStats) -> list[Example]:
    room = max_tokens - len(example.prompt_ids)
    chosen, rejected = example.chosen_ids[:room], example.rejected_ids[:room]
    if room < 1 or chosen == rejected:
        stats.dropped += 1
        return []
    stats.truncated += 1
    stats.truncated_tokens += len(example.chosen_ids) - len(chosen) + len(example.rejected_ids) - len(rejected)
    return [dataclasses.replace(example, chosen_ids=chosen, rejected_ids=rejected)]


def limit_length(example: Example, max_tokens: int | None, on_overlength: str, stats: DataStats) -> list[Example]:
    """Apply the overlength policy to one example; returns 0, 1 or (split) several examples."""
    if on_overlength not in ON_OVERLENGTH:
        raise ValueError(f"on_overlength must be one of {ON_OVERLENGTH}, got {on_overlength!r}")
    if max_tokens is None or len(example) <= max_tokens:
        return [example]
    if on_overlength == "error":
        field = "chosen/rejected" if isinstance(example, PreferenceExample) else example.source
        raise DataError(
            f"{len(example)} tokens > max_tokens {max_tokens} (on_overlength='error'; "
            "use 'truncate', 'drop' or, for CPT text, 'split')",
            field,
        )
    if on_overlength == "drop":
        stats.dropped += 1
        return []
    if isinstance(example, PreferenceExample):
        if on_overlength == "split":
            raise ValueError("on_overlength='split' is not valid for preference pairs")
        return _cut_pair(example, max_tokens, stats)
    if on_overlength == "split":
        return _split_sequence(example, max_tokens, stats)
    return _cut_sequence(example, max_tokens, stats)


def build_examples(
    records: Records | Iterable[dict],
    formatter: Callable[[dict], Example],
    *,
    max_tokens: int | None = None,
    on_overlength: str = "error",
    stats: DataStats | None = None,
) -> list[Example]:
    """Format every row with `formatter` (see formatting.py) and apply the overlength policy.

    Errors from a row are re-raised with its location (`file line N` / `file row N`).
    Fills `stats` (pass one in to read the counts).
    """
    stats = stats if stats is not None else DataStats()
    where = records.where if isinstance(records, Records) else (lambda index: f"row {index + 1}")
    examples: list[Example] = []
    for index, row in enumerate(records):
        stats.rows += 1
        try:
            kept = limit_length(formatter(row), max_tokens, on_overlength, stats)
        except DataError as err:
            raise err.at(where(index)) from None
        stats.examples += len(kept)
        examples.extend(kept)
    return examples
