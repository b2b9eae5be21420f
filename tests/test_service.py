"""The reward service as users run it: `python -m rewards.service` in a real uvicorn subprocess.

Covers the 4xx answers (malformed JSON, wrong types, unknown rewards, oversize bodies and
batches, missing/wrong token), per-sample statuses (error, timeout), composite scores, the
OpenRLHF route, /metrics, the remote client against the real server, and a bounded load test.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from rewards.client import RemoteReward
from rewards.compose import score_rows

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TEST_REWARDS = """
import time
from rewards.base import RewardResult
from rewards.registry import reward
from rewards.settings import Setting

@reward("echo_id", columns=("id",), description="Scores each sample with its id column (tests).")
def echo_id(completions, id, **_):
    return [RewardResult.ok(float(i)) for i in id]

@reward("sleepy", description="Sleeps delay_s seconds, then scores 1 (tests).",
        request_settings={"delay_s": Setting(float, ge=0, le=10)})
def sleepy(completions, *, delay_s=0.0, **_):
    time.sleep(delay_s)
    return [1.0 for _ in completions]

@reward("boom", description="Always raises (tests).")
def boom(completions, **_):
    raise RuntimeError("kaboom")
"""


def start_server(
    args: list[str], env: dict[str, str], log: Path, timeout_s: float = 30.0
) -> tuple[subprocess.Popen, str]:
    """Start the service on a free port (--port 0) and return it with the URL it prints."""
    cmd = [
        sys.executable,
        "-m",
        "rewards.service",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--log-level",
        "warning",
        *args,
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    lines: list[str] = []
    ready = threading.Event()

    def drain() -> None:  # keep reading so a chatty reward can never fill the pipe
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "ready at" in line:
                ready.set()

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not ready.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"reward service did not start: {''.join(lines)}\n{log.read_text()}")
    url = next(line for line in lines if "ready at" in line).split("ready at ")[1].strip()
    return proc, url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("svc")
    (tmp / "svc_test_rewards.py").write_text(TEST_REWARDS)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp}", "RLSYS_TEST_TOKEN": TOKEN}
    rewards = (
        "exact_match,contains,length_penalty,svc_test_rewards:echo_id,svc_test_rewards:sleepy,svc_test_rewards:boom"
    )
    args = [
        "--rewards",
        rewards,
        "--token-env",
        "RLSYS_TEST_TOKEN",
        "--openrlhf-reward",
        "exact_match",
        "--max-body-bytes",
        "200000",
        "--max-batch",
        "64",
        "--request-timeout-s",
        "1.5",
        "--max-concurrency",
        "4",
    ]
    proc, url = start_server(args, env, tmp / "server.log")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def post(url: str, path: str, json=None, content=None, headers=AUTH) -> httpx.Response:
    return httpx.post(url + path, json=json, content=content, headers=headers, timeout=30)


def sample(completion="42", reward="exact_match", **columns):
    return {"completion": completion, "reward": reward, "columns": columns or {"answer": "42"}}


def test_scores_in_order_with_composites(server: str) -> None:
    samples = [
        sample("42"),
        sample("41"),
        sample("4", [{"name": "exact_match", "weight": 2}, {"name": "echo_id", "weight": 0.5}], answer="4", id=4),
        sample("x", [{"name": "exact_match"}, {"name": "boom", "weight": 1}], answer="x"),
        sample("x", "contains", answer=None),
    ]
    r = post(server, "/v1/score", {"samples": samples})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["score"] for x in res[:3]] == [1.0, 0.0, 4.0]
    assert res[2]["rewards"] == {
        "exact_match": {"score": 1.0, "status": "ok", "reason": ""},
        "echo_id": {"score": 4.0, "status": "ok", "reason": ""},
    }
    assert res[3]["status"] == "error" and res[3]["score"] is None
    assert res[3]["reason"].startswith("boom: ") and "kaboom" in res[3]["reason"]
    assert res[3]["rewards"]["exact_match"]["status"] == "ok"
    assert res[4] == {
        "score": None,
        "status": "not_applicable",
        "reason": "row has no answer",
        "rewards": {"contains": {"score": None, "status": "not_applicable", "reason": "row has no answer"}},
    }


def test_settings_and_prompt_reach_the_reward(server: str) -> None:
    body = {
        "samples": [sample("abcdef", "length_penalty", prompt="p")],
        "settings": {"length_penalty": {"max_chars": 4}},
    }
    assert post(server, "/v1/score", body).json()["results"][0]["score"] == -0.5


def test_slow_reward_times_out_per_sample_and_others_keep_results(server: str) -> None:
    body = {"samples": [sample("42"), sample("z", "sleepy")], "settings": {"sleepy": {"delay_s": 3}}}
    start = time.monotonic()
    r = post(server, "/v1/score", body)
    assert r.status_code == 200 and time.monotonic() - start < 2.8
    ok, slow = r.json()["results"]
    assert ok["status"] == "ok" and ok["score"] == 1.0
    assert slow["status"] == "timeout" and slow["score"] is None and "request timeout of 1.5 s" in slow["reason"]


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (b'{"samples": [', 400, "not valid JSON"),
        (b'{"samples": {"completion": "x"}}', 422, "samples: Input should be a valid array"),
        (
            b'{"samples": [{"completion": 3, "reward": "exact_match"}]}',
            422,
            "samples.0.completion: Input should be a valid string",
        ),
        (b'{"samples": [{"completion": "3"}]}', 422, "samples.0.reward: Field required"),
        (b'{"sample": []}', 422, "sample: Extra inputs are not permitted"),
        (
            b'{"samples": [{"completion": "3", "reward": [{"name": "exact_match", "weight": "x"}]}]}',
            422,
            "samples.0: reward[0].weight must be a finite number",
        ),
        (
            b'{"samples": [{"completion": "3", "reward": 5}]}',
            422,
            "samples.0: field 'reward' must be a name or a non-empty list of {name, weight}, got 5",
        ),
        (
            b'{"samples": [{"completion": "3", "reward": "nope"}]}',
            422,
            "unknown reward(s) ['nope']; this server serves: ",
        ),
        (
            b'{"samples": [], "settings": {"mth": {"a": 1}}}',
            422,
            "unknown reward(s) ['mth'] in settings; this server serves",
        ),
        (
            b'{"samples": [{"completion": "3", "reward": "exact_match", "columns": {"reward": 1}}]}',
            422,
            "samples.0.columns: must not contain 'reward'",
        ),
    ],
)
def test_bad_requests_say_what_is_wrong(server: str, content: bytes, code: int, message: str) -> None:
    r = post(server, "/v1/score", content=content, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == code, r.text
    assert message in r.json()["detail"]
    if "unknown reward(s)" in message:
        assert "'exact_match'" in r.json()["detail"]


def test_limits(server: str) -> None:
    big = {"samples": [sample("x" * 100_000), sample("y" * 100_000)]}
    r = post(server, "/v1/score", big)
    assert r.status_code == 413 and "exceeds max_body_bytes=200000" in r.json()["detail"]
    chunked = post(server, "/v1/score", content=iter([b"{" + b" " * 150_000, b" " * 150_000 + b"}"]))
    assert chunked.status_code == 413 and "max_body_bytes" in chunked.json()["detail"]
    r = post(server, "/v1/score", {"samples": [sample()] * 65})
    assert r.status_code == 413 and "batch of 65 samples exceeds max_batch=64" in r.json()["detail"]


def test_auth(server: str) -> None:
    r = post(server, "/v1/score", {"samples": []}, headers={})
    assert r.status_code == 401 and "missing bearer token" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    r = post(server, "/v1/score", {"samples": []}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong bearer token"
    r = post(server, "/v1/score", {"samples": []}, headers={"Authorization": TOKEN})
    assert r.status_code == 401 and "expected 'Bearer <token>'" in r.json()["detail"]
    assert httpx.get(server + "/v1/rewards").status_code == 401
    assert httpx.get(server + "/healthz").json()["status"] == "ok"  # probes need no token


def test_list_rewards(server: str) -> None:
    listed = {r["name"]: r for r in httpx.get(server + "/v1/rewards", headers=AUTH).json()["rewards"]}
    assert listed["echo_id"]["columns"] == ["id"] and listed["echo_id"]["description"]
    assert listed["svc_test_rewards:echo_id"]["columns"] == ["id"]
    assert listed["exact_match"]["columns"] == ["answer"]


def test_openrlhf_route(server: str) -> None:
    body = {
        "query": ["Q: 2+2? 4", "Q: 3+3? 7", "other text"],
        "prompts": ["Q: 2+2? ", "Q: 3+3? ", "Q: 1+1?"],
        "labels": ["4", "6", "2"],
    }
    for path in ("/openrlhf", "/get_reward"):
        r = post(server, path, body)
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["rewards"] == [1.0, 0.0, 0.0] and data["scores"] == data["rewards"]
        assert data["extra_logs"]["reward_ok"] == [1.0, 1.0, 0.0]
        assert data["extra_logs"]["reward_error"] == [0.0, 0.0, 1.0]
        assert "does not start with its prompt" in data["results"][2]["reason"]
    r = post(server, "/openrlhf", {"query": ["a"], "labels": ["a", "b"]})
    assert r.status_code == 422 and "labels 2" in r.json()["detail"]


def test_remote_client_matches_local_scoring(server: str) -> None:
    completions = ["42", "4", "The answer is 42", "x" * 30, "7"]
    rows = [
        {"reward": "exact_match", "answer": "42"},
        {"reward": [{"name": "exact_match", "weight": 1.0}, {"name": "length_penalty", "weight": 0.5}], "answer": "4"},
        {"reward": "contains", "answer": ["41", "42"]},
        {"reward": [{"name": "contains", "weight": 1.0}, {"name": "length_penalty", "weight": 0.5}], "answer": "x"},
        {"reward": "exact_match"},  # missing column: an error status, remote and local alike
    ]
    settings = {"length_penalty": {"max_chars": 20}}
    with RemoteReward(server, token=TOKEN, batch_size=2, concurrency=2) as remote:
        assert remote.score(completions, rows, settings) == score_rows(completions, rows, settings)
        unknown = remote.score(["a"], [{"reward": "nope"}])
        assert unknown[0].status == "error" and "HTTP 422" in unknown[0].reason and "exact_match" in unknown[0].reason
    with RemoteReward(server, token="wrong", backoff_s=0.01) as remote:
        (failed,) = remote.score(["42"], [rows[0]])
        assert failed.score is None and failed.status == "error" and "wrong bearer token" in failed.reason


@pytest.mark.timeout(60)
def test_load_every_result_exactly_once(server: str) -> None:
    clients, requests_per_client, batch = 16, 5, 25  # 2,000 samples

    async def one_client(c: int, http: httpx.AsyncClient) -> list[tuple[int, float, int]]:
        out = []
        for r in range(requests_per_client):
            ids = [(c * requests_per_client + r) * batch + k for k in range(batch)]
            samples = [
                sample(
                    str(i),
                    [{"name": "echo_id", "weight": 1.0}, {"name": "exact_match", "weight": 0.5}],
                    id=i,
                    answer=str(i),
                )
                for i in ids
            ]
            resp = await http.post(server + "/v1/score", json={"samples": samples}, headers=AUTH)
            out += [(i, res["score"], resp.status_code) for i, res in zip(ids, resp.json()["results"], strict=True)]
        return out

    async def run() -> list[tuple[int, float, int]]:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            parts = await asyncio.gather(*(one_client(c, http) for c in range(clients)))
        return [x for part in parts for x in part]

    start = time.monotonic()
    seen = asyncio.run(run())
    elapsed = time.monotonic() - start
    total = clients * requests_per_client * batch
    assert all(code == 200 for _, _, code in seen)
    assert sorted(i for i, _, _ in seen) == list(range(total))
    assert all(score == i + 0.5 for i, score, _ in seen)  # each result belongs to its own sample
    print(f"load: {total} samples in {elapsed:.2f} s ({total / elapsed:.0f} samples/s)")


def test_metrics(server: str) -> None:
    post(server, "/v1/score", {"samples": [sample("42"), sample("x", "boom")]})
    post(server, "/v1/score", {"samples": []}, headers={})
    text = httpx.get(server + "/metrics").text
    values = {}
    for line in text.splitlines():
        if line.startswith("rlsys_") and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    assert values['rlsys_reward_http_requests_total{code="200",route="/v1/score"}'] >= 1
    assert values['rlsys_reward_http_requests_total{code="401",route="/v1/score"}'] >= 1
    assert values['rlsys_reward_results_total{reward="exact_match",status="ok"}'] >= 1
    assert values['rlsys_reward_results_total{reward="boom",status="error"}'] >= 1
    assert values['rlsys_reward_http_request_seconds_count{route="/v1/score"}'] >= 2


def test_openapi_schema_describes_routes_and_models(server: str) -> None:
    schema = httpx.get(server + "/openapi.json").json()  # no token needed, like /healthz
    paths = schema["paths"]
    assert {"/v1/score", "/openrlhf", "/get_reward", "/v1/rewards", "/healthz"} <= set(paths)
    components = schema["components"]["schemas"]
    score_op = paths["/v1/score"]["post"]
    assert score_op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScoreRequest"
    }
    ok = score_op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ScoreResponse"}
    assert score_op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    assert score_op["security"] == [{"bearer": []}] and "bearer" in schema["components"]["securitySchemes"]
    assert set(components["ScoreRequest"]["properties"]) == {"samples", "settings"}
    assert components["ScoreRequest"]["properties"]["samples"]["items"] == {"$ref": "#/components/schemas/SampleIn"}
    assert set(components["SampleIn"]["required"]) == {"completion", "reward"}
    assert components["RewardOut"]["properties"]["status"]["enum"] == ["ok", "not_applicable", "timeout", "error"]
    assert set(components["OpenRLHFRequest"]["properties"]) == {"query", "prompts", "labels"}
    assert "request_settings" in components["RewardInfo"]["properties"]
    refs = [v for v in _walk(schema) if isinstance(v, str) and v.startswith("#/components/schemas/")]
    assert all(ref.rsplit("/", 1)[1] in components for ref in refs)  # every reference resolves
    # the schema is truthful: a real answer has the declared fields
    answer = post(server, "/v1/score", {"samples": [sample()]}).json()
    assert set(answer["results"][0]) == set(components["ResultOut"]["properties"])


def _walk(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)
    else:
        yield node
