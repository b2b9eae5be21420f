"""Reward server under load with faults: many concurrent clients, some misbehaving, on 127.0.0.1.

Each client does `actions` things chosen at random (seeded):
- score: a well-formed POST /v1/score of 8 samples (echo_id + exact_match composite); the answer
  must be 200 and every score must be the sample's own (id + 0.5);
- score_key: the same with an Idempotency-Key, sometimes sent twice: both answers must match;
- bad_json: a malformed body: must be 400;
- oversize: a body over the server's max_body_bytes: must be 413;
- cut_body: headers promising 4,000 bytes, 200 sent, then the socket closed (no answer expected);
- hang_up: a full well-formed request, then the socket closed before the answer;
- garbage: random bytes instead of HTTP (no answer expected; uvicorn answers 400 or closes).

Every well-formed request (the first four kinds) must get its expected answer; the server must
report no 5xx in /metrics and no traceback in its log; its RSS is read before and after.

    PYTHONPATH=. .venv/bin/python benchmarks/fault_load.py --clients 128 --actions 40 --rounds 5

tests/test_service_faults.py runs the same with small numbers. Not covered: TLS, slow-loris
clients that trickle bytes for minutes (put a proxy with read timeouts in front), several hosts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
KINDS = ("score", "score_key", "bad_json", "oversize", "cut_body", "hang_up", "garbage")
WEIGHTS = (40, 15, 10, 5, 10, 10, 10)
TEST_REWARDS = """
from rewards.base import RewardResult
from rewards.registry import reward

@reward("echo_id", columns=("id",), description="Scores each sample with its id column (load test).")
def echo_id(completions, id, **_):
    return [RewardResult.ok(float(i)) for i in id]
"""
MAX_BODY = 200_000


def start_server(workdir: Path) -> tuple[subprocess.Popen, str, Path]:
    (workdir / "load_rewards.py").write_text(TEST_REWARDS)
    log = workdir / "server.log"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{workdir}"}
    cmd = [
        sys.executable,
        "-m",
        "rewards.service",
        "--rewards",
        "exact_match,load_rewards:echo_id",
        "--port",
        "0",
        "--log-level",
        "warning",
        "--max-body-bytes",
        str(MAX_BODY),
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    ready: list[str] = []
    event = threading.Event()

    def drain() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            if "ready at" in line:
                ready.append(line.split("ready at ")[1].strip())
                event.set()

    threading.Thread(target=drain, daemon=True).start()
    if not event.wait(60):
        proc.kill()
        raise RuntimeError(f"reward server did not start: {log.read_text()}")
    return proc, ready[0], log


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def five_xx(url: str) -> int:
    total = 0
    for line in httpx.get(url + "/metrics", timeout=30).text.splitlines():
        if line.startswith("rlsys_reward_http_requests_total{") and 'code="5' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def _body(rng: random.Random) -> tuple[bytes, list[float]]:
    ids = [rng.randrange(10**6) for _ in range(8)]
    samples, want = [], []
    for i in ids:
        hit = rng.random() < 0.5
        samples.append(
            {
                "completion": str(i) if hit else "x",
                "columns": {"id": i, "answer": str(i)},
                "reward": [{"name": "echo_id", "weight": 1.0}, {"name": "exact_match", "weight": 0.5}],
            }
        )
        want.append(i + (0.5 if hit else 0.0))
    return json.dumps({"samples": samples}).encode(), want


async def _raw(host: str, port: int, data: bytes, read: bool) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        if read:
            await asyncio.wait_for(reader.read(65536), timeout=10)
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def _action(kind: str, rng: random.Random, url: str, http: httpx.AsyncClient, stats: dict[str, Any]) -> None:
    host, port = url.removeprefix("http://").split(":")
    path = url + "/v1/score"
    if kind in ("score", "score_key"):
        body, want = _body(rng)
        headers = {"Content-Type": "application/json"}
        repeats = 1
        if kind == "score_key":
            headers["Idempotency-Key"] = uuid.uuid4().hex
            repeats = 2 if rng.random() < 0.5 else 1
        answers = [await http.post(path, content=body, headers=headers) for _ in range(repeats)]
        good = all(a.status_code == 200 for a in answers) and all(
            [r["score"] for r in a.json()["results"]] == want for a in answers
        )
        stats["answered_right" if good else "answered_wrong"] += 1
    elif kind == "bad_json":
        answer = await http.post(path, content=b'{"samples": [', headers={"Content-Type": "application/json"})
        stats["answered_right" if answer.status_code == 400 else "answered_wrong"] += 1
    elif kind == "oversize":
        answer = await http.post(path, content=b"x" * (MAX_BODY + 1))
        stats["answered_right" if answer.status_code == 413 else "answered_wrong"] += 1
    elif kind == "cut_body":
        head = (
            f"POST /v1/score HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
        )
        await _raw(host, int(port), head.encode() + b'{"samples": [' + b" " * 187, read=False)
    elif kind == "hang_up":
        body, _ = _body(rng)
        head = f"POST /v1/score HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        await _raw(host, int(port), head.encode() + body, read=False)
    else:
        await _raw(host, int(port), rng.randbytes(200) + b"\r\n\r\n", read=True)
    stats[kind] += 1


async def _client(seed: int, actions: int, url: str, http: httpx.AsyncClient, stats: dict[str, Any]) -> None:
    rng = random.Random(seed)
    for _ in range(actions):
        kind = rng.choices(KINDS, WEIGHTS)[0]
        try:
            await _action(kind, rng, url, http, stats)
        except httpx.HTTPError as exc:  # a well-formed request that got no answer
            stats["unanswered"] += 1
            stats.setdefault("errors", []).append(f"{kind}: {type(exc).__name__}: {exc}")


def load_round(url: str, clients: int, actions: int, seed: int) -> dict[str, Any]:
    """One round of `clients` concurrent clients doing `actions` each; counts by kind and outcome."""
    stats: dict[str, Any] = dict.fromkeys((*KINDS, "answered_right", "answered_wrong", "unanswered"), 0)

    async def run() -> None:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            await asyncio.gather(*(_client(seed * 10_000 + c, actions, url, http, stats) for c in range(clients)))

    start = time.monotonic()
    asyncio.run(run())
    stats["seconds"] = round(time.monotonic() - start, 2)
    return stats


def fault_load(clients: int, actions: int, rounds: int, seed: int = 0) -> dict[str, Any]:
    """Start a server, run `rounds` rounds, return figures (RSS after round 1 and after the last)."""
    with tempfile.TemporaryDirectory(prefix="rlsys-load-") as tmp:
        proc, url, log = start_server(Path(tmp))
        try:
            rss_start = rss_mb(proc.pid)
            per_round, rss = [], []
            for r in range(rounds):
                per_round.append(load_round(url, clients, actions, seed + r))
                rss.append(round(rss_mb(proc.pid), 1))
            errors_5xx = five_xx(url)
            alive = proc.poll() is None
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        server_log = log.read_text()
    total = {k: sum(r[k] for r in per_round) for k in (*KINDS, "answered_right", "answered_wrong", "unanswered")}
    return {
        "clients": clients,
        "actions_per_client": actions,
        "rounds": rounds,
        "totals": total,
        "seconds_per_round": [r["seconds"] for r in per_round],
        "errors": sum((r.get("errors", []) for r in per_round), []),
        "server_5xx": errors_5xx,
        "server_alive": alive,
        "tracebacks_in_log": server_log.count("Traceback"),
        "rss_mb_start": round(rss_start, 1),
        "rss_mb_after_each_round": rss,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=128)
    ap.add_argument("--actions", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    result = fault_load(args.clients, args.actions, args.rounds, args.seed)
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    result["date"] = time.strftime("%Y-%m-%d")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]
    main()
