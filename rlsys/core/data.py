"""RL prompt data: read rows, check them before the job starts, hand out batches.

Rows come from JSONL, Parquet or a `datasets` folder (`save_to_disk`). Each row holds the
prompt (a string or chat messages) and names the reward(s) that judge it in a `reward` column,
or falls back to the config's `rewards.default`. The columns each reward needs are checked
for every row at load time, so a bad row stops the job before any compute is spent, with the
file, row number (1-based line for JSONL) and column in the message.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

REWARD_FIELD = "reward"


class DataError(ValueError):
    """Bad input data; the message names the file, the row and the field."""


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file, a Parquet file or a `datasets` folder, as dicts."""
    path = Path(path)
    if path.is_dir():
        from datasets import load_from_disk

        return [dict(r) for r in load_from_disk(str(path))]
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: not valid JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{line_no}: each line must be a JSON object, got {type(row).__name__}")
            row["_row"] = line_no
            rows.append(row)
    return rows


def _where(path: Path, row: dict[str, Any], index: int) -> str:
    return f"{path}:{row['_row']}" if "_row" in row else f"{path} row {index + 1}"


def check_prompt(value: Any, where: str, key: str) -> None:
    if isinstance(value, str) and value.strip():
        return
    if isinstance(value, list) and value and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
    ):
        return
    raise DataError(f"{where}: column {key!r} must be a non-empty string or a list of {{role, content}} messages")


def load_prompts(path: str | Path, prompt_key: str, default_reward: Any = None) -> list[dict[str, Any]]:
    """Read and check RL rows; every row leaves with a `reward` field."""
    from rewards.compose import parse_reward_field
    from rewards.registry import get_reward

    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise DataError(f"{path}: no rows")
    specs: dict[str, Any] = {}
    for i, row in enumerate(rows):
        where = _where(path, row, i)
        if prompt_key not in row:
            raise DataError(f"{where}: missing column {prompt_key!r} (the prompt)")
        check_prompt(row[prompt_key], where, prompt_key)
        if row.get(REWARD_FIELD) is None:
            if default_reward is None:
                raise DataError(f"{where}: missing column 'reward' and the config sets no rewards.default")
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
                    raise DataError(f"{where}: {exc.args[0]}") from None
            for column in specs[part.name].columns:
                if column not in row or row[column] is None:
                    raise DataError(f"{where}: reward {part.name!r} needs column {column!r}, which this row lacks")
    return rows


class PromptStream:
    """Endless batches of rows: shuffled each epoch (seeded); the position is resumable."""

    def __init__(self, rows: list[dict[str, Any]], *, seed: int = 0, shuffle: bool = True):
        self.rows, self.seed, self.shuffle = rows, seed, shuffle
        self.position = 0  # rows handed out so far, over all epochs

    def _order(self, epoch: int) -> list[int]:
        if getattr(self, "_epoch", None) != epoch:
            order = list(range(len(self.rows)))
            if self.shuffle:
                random.Random(self.seed + epoch).shuffle(order)
            self._epoch, self._cached = epoch, order
        return self._cached

    def next_batch(self, size: int) -> list[dict[str, Any]]:
        batch = []
        for _ in range(size):
            epoch, offset = divmod(self.position, len(self.rows))
            batch.append(self.rows[self._order(epoch)[offset]])
            self.position += 1
        return batch
