"""RemoteReward's failure handling against a tiny scripted HTTP server (stdlib http.server).

The server answers each POST with the next planned reply (a status code, or "slow"), then with
200 and one ok result per sample whose score is the sample's `id` column. It counts attempts and
the most requests it saw in flight at once. The client against the real service is covered in
test_service.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rewards.client import RemoteReward


class ScriptedServer:
    def __init__(self) -> None:
        self.plan: list[int | str] = []
        self.attempts = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay_s = 0.0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.attempts += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    step = server.plan.pop(0) if server.plan else 200
                try:
                    time.sleep(server.delay_s + (1.0 if step == "slow" else 0.0))
                    if step == "short":
                        self._send(200, {"results": []})
                    elif isinstance(step, int) and step != 200:
                        self._send(step, {"detail": f"planned {step}"})
                    else:
                        results = [
                            {"score": float(s["columns"]["id"]), "status": "ok", "reason": "", "rewards": {}}
                            for s in body["samples"]
                        ]
                        self._send(200, {"results": results})
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        return Handler


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    thread = threading.Thread(target=server.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def rows(n: int) -> list[dict]:
    return [{"reward": "exact_match", "id": i} for i in range(n)]


def client(url: str, **kw) -> RemoteReward:
    return RemoteReward(url, **{"backoff_s": 0.01, "timeout_s": 5.0, **kw})


def test_retries_transient_failures_then_succeeds(scripted: ScriptedServer) -> None:
    scripted.plan = [503, 502]
    with client(scripted.url) as remote:
        results = remote.score(["a", "b"], rows(2))
    assert scripted.attempts == 3
    assert [(r.status, r.score) for r in results] == [("ok", 0.0), ("ok", 1.0)]


def test_does_not_retry_client_errors(scripted: ScriptedServer) -> None:
    scripted.plan = [422]
    with client(scripted.url) as remote:
        (result,) = remote.score(["a"], rows(1))
    assert scripted.attempts == 1
    assert result.status == "error" and result.score is None
    assert "refused the request (HTTP 422: planned 422)" in result.reason


def test_gives_up_after_retries_with_an_error_status(scripted: ScriptedServer) -> None:
    scripted.plan = [503] * 10
    with client(scripted.url, retries=2) as remote:
        results = remote.score(["a", "b"], rows(2))
    assert scripted.attempts == 3
    assert all(r.status == "error" and r.score is None for r in results)
    assert "failed after 3 attempt(s); last: HTTP 503: planned 503" in results[0].reason


def test_timeouts_are_retried(scripted: ScriptedServer) -> None:
    scripted.plan = ["slow"]
    with client(scripted.url, timeout_s=0.3, retries=1) as remote:
        (result,) = remote.score(["a"], rows(1))
    assert scripted.attempts == 2 and result.status == "ok"


def test_connection_refused_is_an_error_status() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the client connects: nothing listens there
    with client(f"http://127.0.0.1:{port}", retries=1) as remote:
        (result,) = remote.score(["a"], rows(1))
    assert result.status == "error" and "ConnectError" in result.reason and "2 attempt(s)" in result.reason


def test_wrong_result_count_is_an_error_status(scripted: ScriptedServer) -> None:
    scripted.plan = ["short"]
    with client(scripted.url) as remote:
        results = remote.score(["a", "b"], rows(2))
    assert [r.status for r in results] == ["error", "error"] and "sent 0 results for 2 samples" in results[0].reason


def test_batches_keep_order_and_respect_the_concurrency_cap(scripted: ScriptedServer) -> None:
    scripted.delay_s = 0.05
    with client(scripted.url, batch_size=3, concurrency=2) as remote:
        results = remote.score([str(i) for i in range(20)], rows(20))
    assert [r.score for r in results] == [float(i) for i in range(20)]
    assert scripted.attempts == 7 and 1 <= scripted.max_in_flight <= 2


def test_bad_input_fails_like_local_scoring_or_as_status(scripted: ScriptedServer) -> None:
    with client(scripted.url) as remote:
        with pytest.raises(ValueError, match="row 0: missing field 'reward'"):
            remote.score(["a"], [{"answer": "a"}])
        with pytest.raises(ValueError, match="completions but"):
            remote.score(["a", "b"], rows(1))
        (result,) = remote.score(["a"], [{"reward": "exact_match", "id": 1, "blob": object()}])
    assert result.status == "error" and "cannot be sent as JSON" in result.reason
    assert scripted.attempts == 0
