"""A supervised stage's data: sources read, formatted, split for validation and mixed into steps.

A step takes `examples_per_step` examples from the weighted mixture (mixing.py; each pass over
the data is a new seeded epoch). Source weights share out tokens or examples (`stage.mixing`:
tokens for cpt by default); token weights become sample weights with `mixing.token_mix`, from the
training examples' real token counts. `validation_fraction` of each source's examples (seeded) is held
out before mixing. Every example is tokenized up front, so a bad row fails before any model is
loaded, with the file, row and field named.

Not covered: streaming data, and a CPT document split by `on_overlength: split` whose chunks land
on both sides of the validation split (the split is over examples, not rows).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

from pretrain_sft.data import DataError, DataStats, detect_kind, load_records
from pretrain_sft.examples import Example, build_examples
from pretrain_sft.formatting import make_formatter
from pretrain_sft.mixing import mix_indices, split_validation, token_mix
from rlsys.core.pipeline_config import MODE_KINDS, SourceConfig, SupervisedStage


@dataclasses.dataclass
class StageData:
    """A stage's examples: `train` holds each source's training examples back to back, in
    `sizes` order; `val` the held-out ones of every source. `weights` are the configured ones
    (token or example shares, `mix_by`); `sample_weights` and `epoch_size` what the mixture draws."""

    train: list[Example]
    val: list[Example]
    sizes: dict[str, int]
    weights: dict[str, float]
    stats: dict[str, DataStats]
    mix_by: str = "examples"
    tokens: dict[str, int] = dataclasses.field(default_factory=dict)
    """Training tokens per source."""

    def __post_init__(self) -> None:
        if self.mix_by == "tokens":
            self.sample_weights, self._epoch = token_mix(self.sizes, self.tokens, self.weights)
        else:
            self.sample_weights = dict(self.weights)
            self._epoch = sum(n for name, n in self.sizes.items() if self.weights[name] > 0)

    @property
    def epoch_size(self) -> int:
        """Examples in one pass of the mixture: the training examples of the weighted sources
        (mix_by examples), or as many examples as carry their tokens in the weighted shares."""
        return self._epoch


def source_kind(stage_type: str, source: SourceConfig, records) -> str:
    kind = detect_kind(records) if source.kind == "auto" else source.kind
    if stage_type == "sft" and kind == "parallel":
        kind = "parallel_chat"  # a translation pair becomes a user turn and an assistant turn
    if kind not in MODE_KINDS[stage_type]:
        expected = " or ".join(MODE_KINDS[stage_type])
        problem = f"{kind} rows do not fit a {stage_type} stage (expected {expected} rows)"
        raise DataError(problem, where=f"{records.path} (source {source.label!r})")
    return kind


def load_stage_data(stage: SupervisedStage, tokenizer, seed: int) -> StageData:
    """Read, format and split every source; raises `DataError` naming file, row and field."""
    on_overlength = stage.on_overlength or ("split" if stage.type == "cpt" else "truncate")
    train: list[Example] = []
    val: list[Example] = []
    sizes, stats, tokens = {}, {}, {}
    for source in stage.sources:
        records = load_records(source.path)
        kind = source_kind(stage.type, source, records)
        options = (
            {"seed": seed, "names": source.language_names or None} if kind in ("parallel", "parallel_chat") else {}
        )
        stats[source.label] = DataStats()
        examples = build_examples(
            records,
            make_formatter(kind, tokenizer, **options),
            max_tokens=stage.max_tokens,
            on_overlength=on_overlength,
            stats=stats[source.label],
        )
        if not examples:
            raise DataError(f"no examples left after on_overlength={on_overlength!r}", where=str(records.path))
        keep: list[int] = list(range(len(examples)))
        held: list[int] = []
        if stage.validation_fraction:
            if len(examples) < 2:
                problem = f"{len(examples)} example: too few to hold out a validation share"
                raise DataError(problem, where=str(records.path))
            keep, held = split_validation(len(examples), seed=seed, fraction=stage.validation_fraction)
        train += [examples[i] for i in keep]
        val += [examples[i] for i in held]
        sizes[source.label] = len(keep)
        tokens[source.label] = sum(len(examples[i]) for i in keep)
    return StageData(train, val, sizes, {s.label: s.weight for s in stage.sources}, stats, stage.mixing, tokens)


def mixture_steps(data: StageData, *, seed: int, per_step: int, start_step: int = 0) -> Iterator[list[int]]:
    """Indices into `data.train` for each step, forever: epoch e is `mix_indices(seed + e)`, the
    epochs laid end to end, and step j takes items [j * per_step, (j + 1) * per_step). Starting at
    `start_step` yields exactly the batches that follow the first `start_step` (a resumed stage),
    without drawing them."""
    offsets, start = {}, 0
    for name, size in data.sizes.items():
        offsets[name], start = start, start + size
    epoch, skip = divmod(start_step * per_step, data.epoch_size)
    pending: list[int] = []
    while True:
        while len(pending) < per_step:
            mixed = mix_indices(data.sizes, data.sample_weights, seed=seed + epoch, num_samples=data.epoch_size)
            pending += [offsets[name] + i for name, i in mixed[skip:]]
            epoch, skip = epoch + 1, 0
        yield pending[:per_step]
        pending = pending[per_step:]


def planned_steps(stage: SupervisedStage, data: StageData) -> int:
    return stage.steps or max(1, math.ceil(stage.epochs * data.epoch_size / stage.examples_per_step))
