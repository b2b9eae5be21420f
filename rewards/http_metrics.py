"""Prometheus metrics of the reward server: requests by route and code, latency, results by status.

Each app keeps its metrics in a registry of its own, so several apps can share a process (tests).
Unknown paths are counted as route "other", so a client cannot grow the label set.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from rewards.base import STATUSES, RewardResult


class ServiceMetrics:
    """Prometheus metrics in a registry of their own (several apps may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rlsys_reward_http_requests",
            "HTTP requests by route and status code",
            ["route", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rlsys_reward_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.results = Counter(
            "rlsys_reward_results", "Per-reward sample results by status", ["reward", "status"], registry=self.registry
        )

    def record_results(self, group_results: Mapping[str, Sequence[RewardResult]]) -> None:
        for name, results in group_results.items():
            for status in STATUSES:
                n = sum(1 for r in results if r.status == status)
                if n:
                    self.results.labels(name, status).inc(n)


class MetricsMiddleware:
    """Counts every HTTP request by route and status code and times it (pure ASGI, no buffering)."""

    def __init__(self, app: Any, metrics: ServiceMetrics, routes: Sequence[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = frozenset(routes)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in self.routes else "other"  # bounded label values
        code = 500

        async def send_and_note(message: dict) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.requests.labels(route, str(code)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
