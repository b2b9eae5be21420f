"""Client for the reward service, with the same call as local scoring.

`RemoteReward(url).score(completions, rows, settings)` returns what
`rewards.compose.score_rows(completions, rows, settings)` returns locally, so the trainer can
swap one for the other. Rows are split into requests of `batch_size` samples, sent over pooled
connections with at most `concurrency` requests in flight (across threads sharing the client).

Retries: only transient failures are retried (connection errors, timeouts, 502/503/504), with
exponential backoff `backoff_s * 2**attempt`, up to `retries` times after the first attempt.
Every request carries a random `Idempotency-Key` header, the same on each of its retries: the
server answers a repeated key with its first answer (waiting for it if it is still being
scored), so a retry after a lost answer never scores the samples twice (rewards/idempotency.py).
4xx answers are never retried: the request itself is wrong and would fail again. A request
that still fails gives each of its samples status `error` with the reason (never a 0 score),
and the other requests' results are kept.

Not covered: the `/openrlhf` route (OpenRLHF has its own client); streaming; TLS options
beyond what httpx picks up from the environment.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from rewards.compose import REWARD_FIELD, CompositeResult, check_settings, plan_rows

TRANSIENT_CODES = frozenset({502, 503, 504})


class RemoteReward:
    """Score rows on a reward service: `score(completions, rows, settings)`, like `compose.score_rows`."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        concurrency: int = 8,
        retries: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float = 60.0,
        batch_size: int = 256,
    ) -> None:
        if concurrency < 1 or retries < 0 or batch_size < 1:
            raise ValueError("concurrency and batch_size must be >= 1 and retries >= 0")
        self.url = url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.batch_size = batch_size
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._http = httpx.Client(headers=headers, limits=limits, timeout=timeout_s)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="remote-reward")

    def score(
        self,
        completions: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        settings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[CompositeResult]:
        """One CompositeResult per row, in order; failures are per-sample `error` statuses.

        Like `score_rows`, a malformed `reward` field or settings raise ValueError before anything
        is sent. Unlike it, an unknown reward name is only known to the server: it comes back as
        status `error` with the server's 422 message (listing the names it serves).
        """
        if len(completions) != len(rows):
            raise ValueError(f"{len(completions)} completions but {len(rows)} rows")
        plan_rows(rows)
        settings = check_settings(settings)
        starts = range(0, len(rows), self.batch_size)
        chunks = [(completions[s : s + self.batch_size], rows[s : s + self.batch_size]) for s in starts]
        futures = [self._pool.submit(self._score_chunk, c, r, settings) for c, r in chunks]
        return [result for future in futures for result in future.result()]

    def rewards(self) -> list[dict[str, Any]]:
        """What the server serves: name, columns, optional_columns, description (raises on failure)."""
        response = self._http.get(f"{self.url}/v1/rewards")
        response.raise_for_status()
        return response.json()["rewards"]

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    def __enter__(self) -> RemoteReward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _score_chunk(
        self, completions: Sequence[str], rows: Sequence[Mapping[str, Any]], settings: Mapping[str, Any] | None
    ) -> list[CompositeResult]:
        try:
            body = json.dumps(_request_body(completions, rows, settings)).encode()
        except (TypeError, ValueError) as exc:
            return _failed(len(rows), f"rows cannot be sent as JSON: {exc}")
        response, failure = self._post_with_retries(body)
        if response is None:
            return _failed(len(rows), failure)
        try:
            results = [CompositeResult.from_dict(r) for r in response.json()["results"]]
        except (ValueError, KeyError, TypeError) as exc:
            return _failed(len(rows), f"reward service at {self.url} sent an unreadable answer: {exc!r}")
        if len(results) != len(rows):
            reason = f"reward service at {self.url} sent {len(results)} results for {len(rows)} samples"
            return _failed(len(rows), reason)
        return results

    def _post_with_retries(self, body: bytes) -> tuple[httpx.Response | None, str]:
        failure = ""
        headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._http.post(f"{self.url}/v1/score", content=body, headers=headers)
            except httpx.TransportError as exc:  # connect errors, timeouts, broken connections
                failure = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 200:
                return response, ""
            failure = f"HTTP {response.status_code}: {_detail(response)}"
            if response.status_code not in TRANSIENT_CODES:
                return None, f"reward service at {self.url} refused the request ({failure})"
        attempts = self.retries + 1
        return None, f"reward service at {self.url} failed after {attempts} attempt(s); last: {failure}"


def _request_body(
    completions: Sequence[str], rows: Sequence[Mapping[str, Any]], settings: Mapping[str, Any] | None
) -> dict[str, Any]:
    samples = []
    for completion, row in zip(completions, rows, strict=True):
        columns = {k: v for k, v in row.items() if k != REWARD_FIELD}
        samples.append({"completion": completion, "reward": row.get(REWARD_FIELD), "columns": columns})
    return {"samples": samples, "settings": dict(settings or {})}


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500]


def _failed(n: int, reason: str) -> list[CompositeResult]:
    return [CompositeResult.error(reason) for _ in range(n)]
