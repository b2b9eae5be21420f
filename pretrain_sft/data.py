"""Load rows from JSONL, Parquet or a saved `datasets` folder, and say where each row came from.

Why: every stage before RL reads user files, and a bad row must be reported as
`sft.jsonl line 7, field 'messages[2].role': ...` rather than as an Arrow stack trace. The
rows themselves live in a `datasets.Dataset` (Arrow, memory-mapped from the datasets cache),
so large files are not held as Python objects; only the row being formatted is.

Row locations:
- JSONL (`.jsonl`, or a `.json` file that is not a JSON array): the 1-based line number in the
  file. Blank lines are skipped by the reader, so the map from row to line is computed (one scan
  of the file) the first time a location is asked for, i.e. normally only when reporting an error.
- Parquet, a JSON array, a `save_to_disk` folder: the 1-based row number.
A row that is not valid JSON is reported with its line number by a second, pure-Python scan.

`datasets` 5.x stores a column whose rows mix types (a `prompt` that is a string in one row and a
list of messages in the next) as its `Json` feature, and keeps message dicts with different keys
as they are; a field missing from a row reads as None, which the formatters treat as missing.

Not covered: streaming or sharded reading of files too large for the local datasets cache,
hub dataset names (offline only: set HF_DATASETS_OFFLINE=1 / HF_HUB_OFFLINE=1), folders of raw
data files (pass the files), CSV.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import datasets

ON_OVERLENGTH = ("truncate", "error", "drop", "split")


class DataError(ValueError):
    """A bad row: names the file and row (`where`), the field, and the problem.

    Formatters raise it without `where` (they see one row, not the file); `build_examples`
    adds the location with `at()`.
    """

    def __init__(self, problem: str, field: str | None = None, where: str | None = None):
        self.problem, self.field, self.where = problem, field, where
        head = ", ".join(part for part in (where, f"field '{field}'" if field else None) if part)
        super().__init__(f"{head}: {problem}" if head else problem)

    def at(self, where: str) -> DataError:
        return DataError(self.problem, self.field, where)


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


@dataclasses.dataclass
class Records:
    """The rows of one file or folder, with `where(i)` giving a human location for row i."""

    path: Path
    dataset: datasets.Dataset
    numbering: str  # "line" (JSONL) or "row"
    _lines: list[int] | None = dataclasses.field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.dataset[index]

    def __iter__(self):
        return iter(self.dataset)

    @property
    def columns(self) -> list[str]:
        return list(self.dataset.column_names)

    def where(self, index: int) -> str:
        if self.numbering == "row":
            return f"{self.path} row {index + 1}"
        if self._lines is None:
            self._lines = _nonblank_lines(self.path)
        line = self._lines[index] if index < len(self._lines) else index + 1
        return f"{self.path} line {line}"


def _nonblank_lines(path: Path) -> list[int]:
    with path.open("rb") as handle:
        return [number for number, line in enumerate(handle, start=1) if line.strip()]


def _first_bad_json_line(path: Path) -> DataError | None:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                return DataError(f"not valid JSON ({err.msg} at column {err.colno})", where=f"{path} line {number}")
            if not isinstance(value, dict):
                problem = f"a JSONL row must be an object, got {type(value).__name__}"
                return DataError(problem, where=f"{path} line {number}")
    return None


def _is_json_array(path: Path) -> bool:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for chunk in iter(lambda: handle.read(4096), ""):
            stripped = chunk.lstrip()
            if stripped:
                return stripped[0] == "["
    return False


def _load_json(path: Path, cache_dir: str | None) -> Records:
    numbering = "row" if _is_json_array(path) else "line"
    try:
        dataset = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache_dir)
    except datasets.exceptions.DatasetGenerationError as err:
        bad = _first_bad_json_line(path) if numbering == "line" else None
        if bad is not None:
            raise bad from None
        raise DataError(f"could not be read as JSON: {err.__cause__ or err}", where=str(path)) from err
    return Records(path, dataset, numbering)


def _load_folder(path: Path, split: str) -> Records:
    if not any((path / name).exists() for name in ("dataset_info.json", "dataset_dict.json", "state.json")):
        raise DataError(
            "a folder must be a `datasets` save_to_disk folder (dataset_info.json or dataset_dict.json); "
            "pass JSONL or Parquet files directly",
            where=str(path),
        )
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise DataError(f"split '{split}' not found; the folder has {sorted(loaded)}", where=str(path))
        loaded = loaded[split]
    return Records(path, loaded, "row")


def load_records(path: str | Path, *, split: str = "train", cache_dir: str | None = None) -> Records:
    """Load one data source: `.jsonl` / `.json`, `.parquet`, or a `datasets.save_to_disk` folder.

    `split` picks the split of a DatasetDict folder. `cache_dir` is the datasets cache for the
    Arrow copy of JSONL/Parquet files (default: HF_DATASETS_CACHE).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data source not found: {path}")
    if path.is_dir():
        records = _load_folder(path, split)
    elif path.suffix in (".jsonl", ".json"):
        records = _load_json(path, cache_dir)
    elif path.suffix == ".parquet":
        dataset = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=cache_dir)
        records = Records(path, dataset, "row")
    else:
        raise DataError("unsupported file type; use .jsonl, .json, .parquet or a save_to_disk folder", where=str(path))
    if len(records) == 0:
        raise DataError("no rows", where=str(path))
    return records


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
