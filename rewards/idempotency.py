"""Results of scoring requests kept by `Idempotency-Key`, so that a retried request is never scored twice.

Why: a client retries when an answer is lost (a timeout, a dropped connection), but the server
may have finished the work; scoring again wastes the reward's time (a sandbox run, a COMET
batch) and, for rewards with side effects or counters, is wrong. `RemoteReward` sends one
random key per request (the same on each retry); the server answers a repeated key with the
first answer, and a key that arrives while its first request is still being scored waits for
it instead of starting again.

Bounds: at most `max_entries` finished results and `max_bytes` of answer bodies (the oldest go
first), each kept `ttl_s` seconds. A key sent again with a different body is refused (HTTP 422):
keys are per request, not per client. A request that fails (4xx, or the server raised) keeps
nothing, so its retry runs again.

Not covered: several server processes behind a balancer do not share results (route a key to
one process, or accept a rescoring); keys of requests still in flight are not bounded by count
(they are bounded by the requests the server accepts at once).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

MAX_KEY_CHARS = 200


class KeyReused(ValueError):
    """The key was used before for a different request body."""


@dataclass
class _Entry:
    fingerprint: str
    done: anyio.Event = field(default_factory=anyio.Event)
    body: bytes | None = None
    created: float = field(default_factory=time.monotonic)


class ResultCache:
    """`await cache.run(key, request_body, compute)` -> the answer body, computed once per key."""

    def __init__(self, max_entries: int = 1024, max_bytes: int = 64 << 20, ttl_s: float = 600.0) -> None:
        self.max_entries, self.max_bytes, self.ttl_s = max_entries, max_bytes, ttl_s
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.size_bytes = 0

    def __len__(self) -> int:
        return sum(1 for e in self._entries.values() if e.body is not None)

    def keys(self) -> list[str]:
        return list(self._entries)

    async def run(self, key: str, request: bytes, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        fingerprint = hashlib.sha256(request).hexdigest()
        while True:
            self._expire()
            entry = self._entries.get(key)
            if entry is None:
                break
            if entry.fingerprint != fingerprint:
                raise KeyReused(
                    f"Idempotency-Key {key[:40]!r} was used for a different request body; "
                    "send a new key for each request"
                )
            if entry.body is not None:
                self._entries.move_to_end(key)
                return entry.body
            await entry.done.wait()  # the first request with this key is still being scored
            if entry.body is None and self._entries.get(key) is entry:
                del self._entries[key]  # it failed; try it ourselves
        entry = _Entry(fingerprint)
        self._entries[key] = entry
        try:
            entry.body = await compute()
        except BaseException:
            if self._entries.get(key) is entry:
                del self._entries[key]
            raise
        finally:
            entry.done.set()
        self.size_bytes += len(entry.body)
        self._evict()
        return entry.body

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.ttl_s
        for key in [k for k, e in self._entries.items() if e.body is not None and e.created < cutoff]:
            self._drop(key)

    def _evict(self) -> None:
        finished = [k for k, e in self._entries.items() if e.body is not None]
        while finished and (len(finished) > self.max_entries or self.size_bytes > self.max_bytes):
            self._drop(finished.pop(0))

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        if entry.body is not None:
            self.size_bytes -= len(entry.body)


def check_key(key: str) -> str:
    """A usable key: 1..200 printable ASCII characters (ValueError otherwise)."""
    if not 0 < len(key) <= MAX_KEY_CHARS or not key.isascii() or not key.isprintable():
        raise ValueError(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters")
    return key
