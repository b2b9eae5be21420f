"""RL prompt data: read rows, check them before the job starts, hand out batches.

Rows come from JSONL, Parquet or a `datasets` folder (`save_to_disk`). Each row holds the
prompt (a string or chat messages) and names the reward(s) that judge it in a `reward` column,
or falls back to the config's `rewards.default`. The columns each reward needs are checked
for every row at load time, so a bad row stops the job before any compute is spent, with the
file, row number (1-based line for JSONL) and column in the message.
"""
from __future__ import annotations

import hashlib
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
        return {"position": self.position, "seed": self.seed, "shuffle": self.shuffle, "rows": len(self.rows),
                "fingerprint": self.fingerprint()}

    def load_state_dict(self, state: dict[str, Any]) -> list[str]:
        """Continue at the saved position; returns what differs from the run that saved it
        (then the batches after the resume are not those the saved run would have drawn)."""
        self.position = int(state["position"])
        now = self.state_dict()
        labels = {"seed": "run.seed", "shuffle": "data.shuffle", "rows": "number of rows", "fingerprint": "row content"}
        return [f"{label} changed ({state[key]!r} -> {now[key]!r})" if key != "fingerprint" else f"{label} changed"
                for key, label in labels.items() if key in state and state[key] != now[key]]


def sampling_seed(run_seed: int, position: int) -> int:
    """The rollout seed of the prompt handed out at `position` of the stream.

    vLLM seeds each request's sampler with it (`SamplingParams.seed`; the k-th sample of a prompt
    uses seed + k), the transformers backend seeds a forked RNG with it. A resumed run thus draws
    the same samples for the same prompt with the same weights as an uninterrupted one, whatever
    the engine's own RNG did before. 31 bits, so that seed + k stays a valid seed.
    """
    digest = hashlib.blake2b(f"{run_seed}:{position}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF
