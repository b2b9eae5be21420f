"""Stage-specific data helpers: what kind of rows a source holds, and per-source counts.

Reading files (`load_records`), row locations and `DataError` are rlsys.core.data's, shared with
the RL job and evaluation; this module re-exports them for the stage code.
"""

from __future__ import annotations

import dataclasses

from rlsys.core.data import DataError, Records, load_records

__all__ = ["ON_OVERLENGTH", "DataError", "DataStats", "KIND_COLUMNS", "Records", "detect_kind", "load_records"]

ON_OVERLENGTH = ("truncate", "error", "drop", "split")


@dataclasses.dataclass
class DataStats:
    """Counts for one source, filled by `build_examples` and reported by the pipeline."""

    rows: int = 0  # rows read
    examples: int = 0  # examples produced (a split row yields several)
    truncated: int = 0  # rows cut to max_tokens (on_overlength="truncate")
    truncated_tokens: int = 0  # tokens removed by truncation
    dropped: int = 0  # rows skipped (on_overlength="drop", or nothing left to learn after a cut)
    split: int = 0  # rows cut into several examples (on_overlength="split")

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


KIND_COLUMNS = {
    "preference": ("prompt", "chosen", "rejected"),
    "chat": ("messages",),
    "parallel": ("src", "tgt", "src_lang", "tgt_lang"),
    "text": ("text",),
}


def detect_kind(records: Records) -> str:
    """The data kind implied by the columns: "preference", "chat", "parallel" or "text"."""
    columns = set(records.columns)
    for kind, needed in KIND_COLUMNS.items():
        if set(needed) <= columns:
            return kind
    expected = "; ".join(f"{kind}: {', '.join(needed)}" for kind, needed in KIND_COLUMNS.items())
    problem = f"cannot tell the data kind from columns {sorted(columns)}; expected one of {expected}"
    raise DataError(problem, where=str(records.path))
