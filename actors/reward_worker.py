"""Scores completions with the reward(s) each row names, locally or on reward servers.

Rewards listed under `rewards.remote` in the config are sent to that server (the HTTP reward
service in `rewards/service.py`); every other name runs here. Both go through
`rewards.compose.score_rows`, so composition and failure statuses are the same either way.

Who sets what: for local rewards the job config is the operator, so `rewards.settings` may set
any setting (sandbox, time and memory limits included); a key the reward does not take is a
ValueError at start (a typo would otherwise be swallowed by the reward's `**_`). For a remote reward the server's
operator owns the limits: the job may send only the settings the server says a request may set
(`GET /v1/rewards` -> `request_settings`), checked when the worker starts; anything else is a
ValueError naming the key. If the server cannot be reached at start, the server itself refuses
such a request later (HTTP 422, an `error` status per sample with the reason).
With `rewards.batch_timeout_s` set (the default), a batch gets that wall-clock budget
(`rewards.compose.score_rows(timeout_s=...)`): rewards still running then give their samples status `timeout`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rewards.compose import CompositeResult, score_rows
from rewards.registry import RewardSpec, get_reward
from rewards.settings import check_operator
from rlsys.core.config import RewardsConfig

log = logging.getLogger(__name__)


class RewardWorker:
    def __init__(self, cfg: RewardsConfig):
        self.cfg = cfg
        for name, values in cfg.settings.items():
            if name not in cfg.remote:
                check_operator(get_reward(name), values, "rewards.settings")
        self.remote: dict[str, Any] = {}
        if cfg.remote:
            from rewards.client import RemoteReward

            token = os.environ.get(cfg.remote_token_env) if cfg.remote_token_env else None
            self.remote = {name: RemoteReward(url, token=token) for name, url in cfg.remote.items()}
            for name, client in self.remote.items():
                check_remote_settings(name, client, cfg.settings.get(name) or {})

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

    def score(
        self, completions: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> tuple[list[CompositeResult], float]:
        """One composite result per completion, and the seconds it took."""
        start = time.perf_counter()
        clean = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
        results = score_rows(
            completions, clean, self.cfg.settings, resolve=self._resolve, timeout_s=self.cfg.batch_timeout_s
        )
        return results, time.perf_counter() - start


def check_remote_settings(name: str, client: Any, settings: Mapping[str, Any]) -> None:
    """Raise ValueError for a setting the server does not let a request set (see the module docstring)."""
    if not settings:
        return
    try:
        served = {r["name"]: r for r in client.rewards()}
    except Exception as exc:  # unreachable or an old server: it checks the request itself
        log.warning("cannot check rewards.settings.%s against %s (%s); the server will", name, client.url, exc)
        return
    if name not in served:
        raise ValueError(
            f"rewards.remote.{name}: the server at {client.url} does not serve {name!r}; it serves {sorted(served)}"
        )
    safe = served[name].get("request_settings", {})
    for key in settings:
        if key in safe:
            continue
        kind = "operator-only" if key in served[name].get("operator_settings", []) else "unknown"
        raise ValueError(
            f"rewards.settings.{name}.{key}: {kind} setting of remote reward {name!r} at {client.url}; a job may "
            f"send a reward server only the settings it lets a request set ({sorted(safe) or 'none'}); "
            f"its operator sets the rest (`rlsys serve-rewards --set {name}.{key}=VALUE`)"
        )


def _as_result(composite: CompositeResult) -> Any:
    from rewards.base import RewardResult

    return RewardResult(composite.score, composite.status, composite.reason)
