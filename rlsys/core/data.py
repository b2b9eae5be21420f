"""Every data file rlsys reads: rows with their locations, and the RL prompt stream.

Why one reader: the stages before RL, the RL job and evaluation all read user files, and a bad
row must be reported the same way everywhere — `sft.jsonl line 7, field 'messages[2].role': ...`
rather than as an Arrow stack trace (`DataError`). Rows come from JSONL / JSON, Parquet or a
`datasets` `save_to_disk` folder (`load_records`). Large files stay in a `datasets.Dataset`
(Arrow, memory-mapped from the datasets cache), so only the row being used is a Python object.

Row locations: JSONL (`.jsonl`, or a `.json` file that is not a JSON array) report the 1-based
line number (blank lines skipped; the map from row to line is computed the first time a location
is asked for, i.e. normally only when reporting an error); Parquet, JSON arrays and folders the
1-based row number. A row that is not valid JSON is reported with its line number.

Values are read exactly. `datasets` stores a JSON column whose rows mix types (a `prompt` that is
a string in one row and messages in the next, an `answer` that is 7 here and "7" there) as its
`Json` feature, and that feature decodes every string that looks like JSON: "7" comes back as 7,
"true" as True, "null" as None (datasets 5.2). For such files the rows are re-read with Python's
`json` module and kept as Python objects (`tests/test_data.py` holds the case).

RL rows (`load_prompts`) also name the reward(s) that judge them; the columns each reward needs
are checked for every row at load time, so a bad row stops the job before any compute.

Not covered: streaming or sharded reading of files too large for the local datasets cache,
hub dataset names (offline only: set HF_DATASETS_OFFLINE=1 / HF_HUB_OFFLINE=1), folders of raw
data files (pass the files), CSV.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import random
from pathlib import Path
from typing import Any

REWARD_FIELD = "reward"


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
class Records:
    """The rows of one file or folder, with `where(i)` giving a human location for row i."""

    path: Path
    dataset: Any  # a datasets.Dataset, or a list of dicts for files read exactly (module docstring)
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
        if isinstance(self.dataset, list):
            return list(dict.fromkeys(key for row in self.dataset for key in row))
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


def _read_json_rows(path: Path) -> tuple[list[dict[str, Any]], str]:
    """Exact rows of a JSONL file or a JSON array; a bad line is a DataError naming it."""
    if _is_json_array(path):
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"not valid JSON ({err.msg} at line {err.lineno})", where=str(path)) from None
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise DataError(f"a row must be an object, got {type(row).__name__}", where=f"{path} row {i + 1}")
        return rows, "row"
    rows = []
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(
                    f"not valid JSON ({err.msg} at column {err.colno})", where=f"{path} line {number}"
                ) from None
            if not isinstance(value, dict):
                problem = f"a JSONL row must be an object, got {type(value).__name__}"
                raise DataError(problem, where=f"{path} line {number}")
            rows.append(value)
    return rows, "line"


def _has_content(path: Path) -> bool:
    with path.open("rb") as handle:
        return any(chunk.strip() for chunk in iter(lambda: handle.read(1 << 16), b""))


def _is_json_array(path: Path) -> bool:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for chunk in iter(lambda: handle.read(4096), ""):
            stripped = chunk.lstrip()
            if stripped:
                return stripped[0] == "["
    return False


def _has_json_feature(feature: Any) -> bool:
    import datasets

    if isinstance(feature, datasets.Json):
        return True
    if isinstance(feature, dict):
        return any(_has_json_feature(f) for f in feature.values())
    inner = getattr(feature, "feature", None)
    return inner is not None and _has_json_feature(inner)


def _load_json(path: Path, cache_dir: str | None) -> Records:
    import datasets

    try:
        dataset = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache_dir)
    except datasets.exceptions.DatasetGenerationError as err:
        _read_json_rows(path)  # raises the DataError naming the bad line, if there is one
        raise DataError(f"could not be read as JSON: {err.__cause__ or err}", where=str(path)) from err
    if any(_has_json_feature(f) for f in dataset.features.values()):
        rows, numbering = _read_json_rows(path)  # mixed-type columns: read exactly (module docstring)
        return Records(path, rows, numbering)
    return Records(path, dataset, "row" if _is_json_array(path) else "line")


def _load_folder(path: Path, split: str) -> Records:
    import datasets

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
    with _quiet_datasets():
        records = _load(path, split, cache_dir)
    if len(records) == 0:
        raise DataError("no rows", where=str(path))
    return records


@contextlib.contextmanager
def _quiet_datasets():
    """No "Generating train split" bars for files the job reads in a second."""
    import datasets

    was_off = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_off:
            datasets.enable_progress_bars()


def _load(path: Path, split: str, cache_dir: str | None) -> Records:
    if path.is_dir():
        records = _load_folder(path, split)
    elif path.suffix in (".jsonl", ".json"):
        if not _has_content(path):  # datasets fails on an empty file with a bare StopIteration
            raise DataError("no rows", where=str(path))
        records = _load_json(path, cache_dir)
    elif path.suffix == ".parquet":
        import datasets

        dataset = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=cache_dir)
        records = Records(path, dataset, "row")
    else:
        raise DataError("unsupported file type; use .jsonl, .json, .parquet or a save_to_disk folder", where=str(path))
    return records


def check_prompt(value: Any, where: str, key: str) -> None:
    if isinstance(value, str) and value.strip():
        return
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
        )
    ):
        return
    raise DataError("must be a non-empty string or a list of {role, content} messages", field=key, where=where)


def load_prompts(path: str | Path, prompt_key: str, default_reward: Any = None) -> list[dict[str, Any]]:
    """Read and check RL rows; every row leaves with a `reward` field."""
    from rewards.compose import parse_reward_field
    from rewards.registry import get_reward

    records = load_records(path)
    rows = [dict(row) for row in records]
    specs: dict[str, Any] = {}
    for i, row in enumerate(rows):
        where = records.where(i)
        if row.get(prompt_key) is None:
            raise DataError("missing (the prompt)", field=prompt_key, where=where)
        check_prompt(row[prompt_key], where, prompt_key)
        if row.get(REWARD_FIELD) is None:
            if default_reward is None:
                raise DataError("missing, and the config sets no rewards.default", field=REWARD_FIELD, where=where)
            row[REWARD_FIELD] = default_reward
        try:
            parts = parse_reward_field(row[REWARD_FIELD], where)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        for part in parts:
            if part.name not in specs:
                try:
                    specs[part.name] = get_reward(part.name)
                except KeyError as exc:
                    raise DataError(exc.args[0], field=REWARD_FIELD, where=where) from None
            for column in specs[part.name].columns:
                if row.get(column) is None:
                    raise DataError(f"missing; reward {part.name!r} needs it", field=column, where=where)
    return rows


class PromptStream:
    """Endless batches of rows: shuffled each epoch (seeded); the position is resumable.

    Epoch e is a `random.Random(seed + e)` shuffle, so the stream is a pure function of
    (rows, seed, shuffle, position): `state_dict` / `load_state_dict` carry the position, and a
    fingerprint of the rows so that a resume on changed data is noticed.
    """

    def __init__(self, rows: list[dict[str, Any]], *, seed: int = 0, shuffle: bool = True):
        self.rows, self.seed, self.shuffle = rows, seed, shuffle
        self.position = 0  # rows handed out so far, over all epochs
        self._fingerprint: str | None = None

    def _order(self, epoch: int) -> list[int]:
        if getattr(self, "_epoch", None) != epoch:
            order = list(range(len(self.rows)))
            if self.shuffle:
                random.Random(self.seed + epoch).shuffle(order)
            self._epoch, self._cached = epoch, order
        return self._cached

    def next_batch(self, size: int) -> list[dict[str, Any]]:
        return self.next_prompts(size)[0]

    def next_prompts(self, size: int) -> tuple[list[dict[str, Any]], list[int]]:
        """The next `size` rows and the rollout sampling seed of each (see `sampling_seed`)."""
        batch, seeds = [], []
        for _ in range(size):
            epoch, offset = divmod(self.position, len(self.rows))
            batch.append(self.rows[self._order(epoch)[offset]])
            seeds.append(sampling_seed(self.seed, self.position))
            self.position += 1
        return batch, seeds

    def fingerprint(self) -> str:
        """A hash of the rows' content (computed once)."""
        if self._fingerprint is None:
            digest = hashlib.blake2b(digest_size=16)
            for row in self.rows:
                digest.update(json.dumps(row, sort_keys=True, default=str).encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def state_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "rows": len(self.rows),
            "fingerprint": self.fingerprint(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> list[str]:
        """Continue at the saved position; returns what differs from the run that saved it
        (then the batches after the resume are not those the saved run would have drawn)."""
        self.position = int(state["position"])
        now = self.state_dict()
        labels = {"seed": "run.seed", "shuffle": "data.shuffle", "rows": "number of rows", "fingerprint": "row content"}
        return [
            f"{label} changed ({state[key]!r} -> {now[key]!r})" if key != "fingerprint" else f"{label} changed"
            for key, label in labels.items()
            if key in state and state[key] != now[key]
        ]


def sampling_seed(run_seed: int, position: int) -> int:
    """The rollout seed of the prompt handed out at `position` of the stream.

    vLLM seeds each request's sampler with it (`SamplingParams.seed`; the k-th sample of a prompt
    uses seed + k), the transformers backend seeds a forked RNG with it. A resumed run thus draws
    the same samples for the same prompt with the same weights as an uninterrupted one, whatever
    the engine's own RNG did before. 31 bits, so that seed + k stays a valid seed.
    """
    digest = hashlib.blake2b(f"{run_seed}:{position}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF
