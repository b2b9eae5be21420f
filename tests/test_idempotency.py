"""A retried request is never scored twice: RemoteReward sends an Idempotency-Key, the server keeps results.

Real uvicorn server, real client. The first response is lost in two ways: a TCP proxy that
closes the client's connection as soon as the server starts answering (the work is done, the
answer never arrives), and a client read timeout shorter than the reward (the retry arrives
while the first request is still being scored and waits for it). A test reward appends one line
per invocation to a file, so the test counts invocations on the server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import anyio
import httpx
import pytest

from rewards.client import RemoteReward
from rewards.idempotency import ResultCache
from tests.test_service import ROOT, start_server

COUNTED = """
import os, time
from rewards.registry import reward
from rewards.settings import Setting

@reward("counted", description="Counts its invocations in $RLSYS_TEST_COUNT_FILE (tests).",
        request_settings={"delay_s": Setting(float, ge=0, le=10)})
def counted(completions, *, delay_s=0.0, **_):
    with open(os.environ["RLSYS_TEST_COUNT_FILE"], "a") as f:
        f.write(f"{len(completions)}\\n")
    time.sleep(delay_s)
    return [float(len(c)) for c in completions]
"""


class DroppingProxy:
    """Forwards TCP to `upstream`; for the first `drop` connections it swallows the server's answer."""

    def __init__(self, upstream: str, drop: int = 1) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.drop = drop
        self.dropped = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with self.lock:
            drop = self.dropped < self.drop
            self.dropped += drop
        server = socket.create_connection(self.upstream)
        threading.Thread(target=_pump, args=(client, server), daemon=True).start()
        try:
            while data := server.recv(65536):
                if drop:  # the server answered: the work is done; the client never hears of it
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            for s in (client, server):
                s.close()

    def close(self) -> None:
        self.listener.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("idem")
    (tmp / "idem_rewards.py").write_text(COUNTED)
    count_file = tmp / "count.txt"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp}", "RLSYS_TEST_COUNT_FILE": str(count_file)}
    proc, url = start_server(["--rewards", "idem_rewards:counted,exact_match"], env, tmp / "server.log")
    yield url, count_file
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def invocations(count_file: Path) -> int:
    return len(count_file.read_text().splitlines()) if count_file.exists() else 0


def rows(n: int) -> list[dict]:
    return [{"reward": "counted"} for _ in range(n)]


def test_lost_response_is_not_scored_again(server) -> None:
    url, count_file = server
    proxy = DroppingProxy(url, drop=1)
    before = invocations(count_file)
    try:
        with RemoteReward(proxy.url, retries=3, backoff_s=0.01) as remote:
            results = remote.score(["ab", "abc"], rows(2))
    finally:
        proxy.close()
    assert proxy.dropped == 1  # the first answer really was lost
    assert [r.score for r in results] == [2.0, 3.0]
    assert invocations(count_file) - before == 1


def test_retry_after_client_timeout_waits_for_the_first_request(server) -> None:
    url, count_file = server
    before = invocations(count_file)
    with RemoteReward(url, retries=3, backoff_s=0.01, timeout_s=1.0) as remote:
        results = remote.score(["abcd"], rows(1), {"counted": {"delay_s": 1.5}})
    assert results[0].status == "ok" and results[0].score == 4.0, results
    assert invocations(count_file) - before == 1


def test_concurrent_duplicates_share_one_scoring_and_a_reused_key_must_match(server) -> None:
    url, count_file = server
    before = invocations(count_file)
    key = uuid.uuid4().hex
    body = {
        "samples": [{"completion": "xyz", "reward": "counted", "columns": {}}],
        "settings": {"counted": {"delay_s": 0.5}},
    }

    async def both() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as http:

            async def post() -> httpx.Response:
                return await http.post(url + "/v1/score", json=body, headers={"Idempotency-Key": key})

            out: list[httpx.Response] = []
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(lambda: _append(out, post()))
            return out

    answers = anyio.run(both)
    assert [a.status_code for a in answers] == [200] * 3
    assert len({a.content for a in answers}) == 1
    assert invocations(count_file) - before == 1
    other = {"samples": [{"completion": "different", "reward": "counted", "columns": {}}]}
    r = httpx.post(url + "/v1/score", json=other, headers={"Idempotency-Key": key})
    assert r.status_code == 422 and "was used for a different request" in r.json()["detail"]
    r = httpx.post(url + "/v1/score", json=other, headers={"Idempotency-Key": "x" * 300})
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["detail"]


async def _append(out: list, awaitable) -> None:
    out.append(await awaitable)


def test_the_result_cache_is_bounded() -> None:
    cache = ResultCache(max_entries=3, max_bytes=100, ttl_s=60)

    async def fill() -> None:
        for i in range(10):
            await cache.run(f"k{i}", b"body", lambda i=i: _value(f"result {i}".encode()))
        await cache.run("big", b"body", lambda: _value(b"x" * 80))

    anyio.run(fill)
    assert len(cache) <= 3 and cache.size_bytes <= 100
    assert cache.keys()[-1] == "big"


async def _value(data: bytes) -> bytes:
    return data
