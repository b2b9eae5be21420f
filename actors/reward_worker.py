"""Scores completions with the reward(s) each row names, locally or on reward servers.

Rewards listed under `rewards.remote` in the config are sent to that server (the HTTP reward
service in `rewards/service.py`); every other name runs here. Both go through
`rewards.compose.score_rows`, so composition and failure statuses are the same either way.
With `rewards.batch_timeout_s` set (the default), a batch gets that wall-clock budget
(`rewards.deadline`): rewards still running then give their samples status `timeout`.
"""
from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rewards.compose import CompositeResult, score_rows
from rewards.deadline import score_rows_with_deadline
from rewards.registry import RewardSpec, get_reward
from rlsys.core.config import RewardsConfig


class RewardWorker:
    def __init__(self, cfg: RewardsConfig):
        self.cfg = cfg
        self.remote: dict[str, Any] = {}
        if cfg.remote:
            from rewards.client import RemoteReward

            token = os.environ.get(cfg.remote_token_env) if cfg.remote_token_env else None
            self.remote = {name: RemoteReward(url, token=token) for name, url in cfg.remote.items()}

    def _resolve(self, name: str) -> RewardSpec:
        if name not in self.remote:
            return get_reward(name)
        client = self.remote[name]

        def remote_fn(completions: Sequence[str], **columns: Any) -> list[Any]:
            settings = {k: columns.pop(k) for k in list(self.cfg.settings.get(name, {}))}
            rows = [{"reward": name, **{c: v[i] for c, v in columns.items()}} for i in range(len(completions))]
            results = client.score(list(completions), rows, {name: settings} if settings else None)
            return [r.rewards.get(name) or _as_result(r) for r in results]

        return RewardSpec(name, remote_fn, (), f"remote reward at {client.url}")

    def score(self, completions: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> tuple[list[CompositeResult], float]:
        """One composite result per completion, and the seconds it took."""
        start = time.perf_counter()
        clean = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
        if self.cfg.batch_timeout_s is None:
            results = score_rows(completions, clean, self.cfg.settings, resolve=self._resolve)
        else:
            results = score_rows_with_deadline(completions, clean, self.cfg.settings, resolve=self._resolve,
                                               timeout_s=self.cfg.batch_timeout_s)
        return results, time.perf_counter() - start


def _as_result(composite: CompositeResult) -> Any:
    from rewards.base import RewardResult

    return RewardResult(composite.score, composite.status, composite.reason)
