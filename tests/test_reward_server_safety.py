"""Attacks on the reward server's settings: a client must not be able to weaken the sandbox.

Over HTTP against a real uvicorn server (`python -m rewards.service`) serving the real `code`
reward in the real bubblewrap sandbox. Every attack program first tries to write a file on the
host, then stresses the limit its request tries to lift, then prints the expected answer: a
refused request leaves the host unchanged, an accepted one would score 1.0.

Also: the operator's settings (settings file and --set flags) apply to every request and route;
request-safe settings within bounds work; a data row's columns never become settings; an RL job's
`rewards.settings` for a remote reward is checked against what the server lets a request set.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from rewards.sandbox import Sandbox, SandboxUnavailable
from tests.test_service import ROOT, start_server

PROBE_REWARDS = """
from rewards.base import RewardResult
from rewards.registry import reward

@reward("flag_echo", description="Scores 1 when its operator-only setting unsafe_flag is truthy (tests).")
def flag_echo(completions, *, unsafe_flag=False, **_):
    return [RewardResult.ok(1.0 if unsafe_flag else 0.0) for _ in completions]
"""
TESTS = {"inputs": [""], "outputs": ["3"]}


def fenced(body: str) -> str:
    return f"```python\n{textwrap.dedent(body).strip()}\n```"


def attack(host_file: Path, stress: str) -> str:
    """A program that tries to write `host_file`, then runs `stress`, then prints the expected 3."""
    return fenced(f"""
        try:
            with open({str(host_file)!r}, "w") as f:
                f.write("pwned")
        except OSError:
            pass
        {stress}
        print(3)
    """)


# (setting, value, what the program does to need it)
FORBIDDEN = [
    ("unsafe_no_sandbox", True, "pass"),
    ("timeout_s", 60, "import time; time.sleep(7)"),
    ("memory_mb", 8192, "block = bytearray(1500 << 20)"),
    ("max_output_bytes", 1 << 30, "print('3' + ' ' * (3 << 20)); raise SystemExit"),
    ("concurrency", 64, "pass"),
    ("compile_timeout_s", 600, "pass"),
]


def _sandbox_or_skip() -> None:
    try:
        Sandbox().check()
    except SandboxUnavailable as exc:
        if os.environ.get("RLSYS_REQUIRE_SANDBOX") == "1":
            raise
        pytest.skip(str(exc))


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp}", **extra}
    env.pop("RLSYS_UNSAFE_NO_SANDBOX", None)
    return env | extra


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """Default limits (code timeout 5 s), no operator settings: what a fresh `serve-rewards` does."""
    _sandbox_or_skip()
    tmp = tmp_path_factory.mktemp("safety")
    (tmp / "probe_rewards.py").write_text(PROBE_REWARDS)
    args = [
        "--rewards",
        "code,length_penalty,exact_match,instructions,chrf,probe_rewards:flag_echo",
        "--openrlhf-reward",
        "code",
        "--request-timeout-s",
        "30",
    ]
    proc, url = start_server(args, _env(tmp), tmp / "server.log")
    yield url
    _stop(proc)


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    path = tmp_path / "written-by-the-client.txt"
    yield path
    assert not path.exists(), f"a client's program wrote {path} on the server host"


def score(url: str, samples: list[dict], settings: dict | None = None) -> httpx.Response:
    body = {"samples": samples, **({"settings": settings} if settings is not None else {})}
    return httpx.post(url + "/v1/score", json=body, timeout=60)


def code_sample(completion: str, tests=TESTS) -> dict:
    return {"completion": completion, "reward": "code", "columns": {"tests": tests}}


@pytest.mark.parametrize(("key", "value", "stress"), FORBIDDEN, ids=[k for k, _, _ in FORBIDDEN])
def test_request_cannot_set_operator_limits(server: str, host_file: Path, key: str, value, stress: str) -> None:
    r = score(server, [code_sample(attack(host_file, stress))], {"code": {key: value}})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert f"settings.code.{key}" in detail and "operator-only" in detail, detail
    assert "all_or_nothing" in detail  # says what a request may set


def test_the_same_program_without_settings_stays_in_the_sandbox(server: str, host_file: Path) -> None:
    r = score(server, [code_sample(attack(host_file, "pass"))])
    assert r.status_code == 200 and r.json()["results"][0]["score"] == 1.0  # it ran, sandboxed: host unchanged


def test_unknown_and_out_of_bounds_settings_are_refused(server: str) -> None:
    cases = [
        ({"code": {"bogus": 1}}, "settings.code.bogus: unknown setting of reward 'code'"),
        ({"code": {"all_or_nothing": "yes"}}, "settings.code.all_or_nothing: all_or_nothing must be a boolean"),
        ({"length_penalty": {"max_chars": 0}}, "max_chars must be >= 1, got 0"),
        ({"length_penalty": {"max_chars": 10**12}}, "max_chars must be <= "),
        ({"length_penalty": {"max_chars": 5.5}}, "max_chars must be an integer"),
        ({"exact_match": {"case_sensitive": 1}}, "case_sensitive must be a boolean"),
    ]
    for settings, message in cases:
        (name,) = settings
        sample = {"completion": "abc", "reward": name, "columns": {"answer": "abc"}}
        if name == "code":
            sample = code_sample(fenced("print(3)"))
        r = score(server, [sample], settings)
        assert r.status_code == 422 and message in r.json()["detail"], (settings, r.text)


def test_request_safe_settings_work(server: str) -> None:
    half = fenced("import sys\nprint(3 if sys.stdin.read().strip() == '' else 0)")
    tests = {"inputs": ["", "1"], "outputs": ["3", "3"]}
    r = score(server, [code_sample(half, tests)])
    assert r.json()["results"][0]["score"] == 0.5
    r = score(server, [code_sample(half, tests)], {"code": {"all_or_nothing": True}})
    assert r.status_code == 200 and r.json()["results"][0]["score"] == 0.0
    r = score(
        server,
        [{"completion": "abcdef", "reward": "length_penalty", "columns": {}}],
        {"length_penalty": {"max_chars": 4}},
    )
    assert r.status_code == 200 and r.json()["results"][0]["score"] == -0.5
    r = score(
        server,
        [{"completion": "ABC", "reward": "exact_match", "columns": {"answer": "abc"}}],
        {"exact_match": {"case_sensitive": False}},
    )
    assert r.json()["results"][0]["score"] == 1.0


def test_instruction_mode_and_translation_guards_are_request_safe(server: str) -> None:
    lower = {
        "completion": "**the end.**",
        "reward": "instructions",
        "columns": {"constraints": [{"type": "startend:end_checker", "end_phrase": "the end."}]},
    }
    assert score(server, [lower]).json()["results"][0]["score"] == 0.0
    loose = score(server, [lower], {"instructions": {"mode": "loose"}})
    assert loose.status_code == 200 and loose.json()["results"][0]["score"] == 1.0
    assert score(server, [lower], {"instructions": {"mode": "lenient"}}).status_code == 422
    chatter = {
        "completion": "Here is the translation: Die Katze schläft.",
        "reward": "chrf",
        "columns": {"reference": "Die Katze schläft.", "src": "The cat sleeps.", "tgt_lang": "de"},
    }
    guarded = score(server, [chatter], {"chrf": {"guards": "all"}}).json()["results"][0]
    assert guarded["score"] == 0.0 and "guard translation_only" in guarded["rewards"]["chrf"]["reason"]
    assert score(server, [chatter], {"chrf": {"guards": "none"}}).json()["results"][0]["score"] > 0.5
    table = score(server, [chatter], {"chrf": {"length_ratios": {"en-de": [0.1, 9]}}})
    assert table.status_code == 422 and "length_ratios" in table.json()["detail"]


def test_a_data_column_never_becomes_a_setting(server: str) -> None:
    """A reward that takes every column must not receive one named like its settings."""
    r = score(server, [{"completion": "x", "reward": "flag_echo", "columns": {"unsafe_flag": True}}])
    assert r.status_code == 200 and r.json()["results"][0]["score"] == 0.0, r.text


def test_openrlhf_route_has_no_request_settings(server: str, host_file: Path) -> None:
    body = {
        "query": ["Q " + attack(host_file, "pass")],
        "prompts": ["Q "],
        "labels": [TESTS],
        "settings": {"code": {"unsafe_no_sandbox": True}},
        "unsafe_no_sandbox": True,
    }
    r = httpx.post(server + "/openrlhf", json=body, timeout=60)
    assert r.status_code == 200 and r.json()["rewards"] == [1.0], r.text  # scored, in the sandbox


def test_list_says_which_settings_a_request_may_set(server: str) -> None:
    listed = {r["name"]: r for r in httpx.get(server + "/v1/rewards").json()["rewards"]}
    assert listed["code"]["request_settings"] == {"all_or_nothing": {"type": "boolean"}}
    assert {"unsafe_no_sandbox", "timeout_s", "memory_mb"} <= set(listed["code"]["operator_settings"])
    assert listed["length_penalty"]["request_settings"]["max_chars"]["minimum"] == 1


def test_operator_settings_apply_to_every_route(tmp_path: Path) -> None:
    _sandbox_or_skip()
    (tmp_path / "operator.yaml").write_text("code:\n  timeout_s: 1\n  memory_mb: 256\n")
    args = [
        "--rewards",
        "code,length_penalty",
        "--openrlhf-reward",
        "code",
        "--settings",
        str(tmp_path / "operator.yaml"),
        "--set",
        "length_penalty.max_chars=4",
    ]
    proc, url = start_server(args, _env(tmp_path), tmp_path / "server.log")
    try:
        slow = fenced("import time; time.sleep(3); print(3)")
        r = score(url, [code_sample(slow), {"completion": "abcdef", "reward": "length_penalty", "columns": {}}])
        timed_out, penalty = r.json()["results"]
        assert timed_out["status"] == "timeout" and "1" in timed_out["reason"], timed_out
        assert penalty["score"] == -0.5  # the operator's max_chars
        r = score(
            url,
            [{"completion": "abcdef", "reward": "length_penalty", "columns": {}}],
            {"length_penalty": {"max_chars": 6}},
        )
        assert r.json()["results"][0]["score"] == 0.0  # a request-safe setting overrides the operator's default
        r = httpx.post(url + "/openrlhf", json={"query": [slow], "prompts": [""], "labels": [TESTS]}, timeout=60)
        assert r.json()["results"][0]["status"] == "timeout"
        big = fenced("block = bytearray(400 << 20); print(3)")
        assert score(url, [code_sample(big)]).json()["results"][0]["score"] == 0.0  # memory_mb 256 holds
    finally:
        _stop(proc)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "code.timeot_s=1"], "settings.code.timeot_s: reward 'code' has no such setting"),
        (["--set", "math.timeout_s=1"], "settings for reward(s) ['math'], which this server does not serve"),
        (["--set", "length_penalty.max_chars=0"], "max_chars must be >= 1"),
        (["--set", "nodot=1"], "expected REWARD.KEY=VALUE"),
    ],
)
def test_bad_operator_settings_stop_the_start(tmp_path: Path, args: list[str], message: str) -> None:
    cmd = [sys.executable, "-m", "rewards.service", "--rewards", "code,length_penalty", "--port", "0", *args]
    done = subprocess.run(cmd, env=_env(tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=60)
    said = " ".join(re.sub("[│╭╮╰╯─]", " ", done.stderr).split())  # rich draws a box and wraps lines
    assert done.returncode != 0 and message in said, done.stderr


def test_unsafe_environment_is_announced_at_start(tmp_path: Path) -> None:
    args = ["--rewards", "code"]
    proc, url = start_server(args, _env(tmp_path, RLSYS_UNSAFE_NO_SANDBOX="1"), tmp_path / "server.log")
    try:
        assert httpx.get(url + "/healthz").json()["sandbox"] == "OFF (RLSYS_UNSAFE_NO_SANDBOX=1)"
    finally:
        _stop(proc)
    assert "WITHOUT a sandbox" in (tmp_path / "server.log").read_text()


def test_rl_job_sends_only_request_safe_settings_to_a_remote_reward(server: str) -> None:
    from actors.reward_worker import RewardWorker
    from rlsys.core.config import RewardsConfig

    bad = RewardsConfig(remote={"code": server}, settings={"code": {"unsafe_no_sandbox": True}})
    with pytest.raises(ValueError, match=r"rewards.settings.code.unsafe_no_sandbox: operator-only"):
        RewardWorker(bad)
    ok = RewardWorker(RewardsConfig(remote={"code": server}, settings={"code": {"all_or_nothing": True}}))
    half = fenced("import sys\nprint(3 if sys.stdin.read().strip() == '' else 0)")
    results, _ = ok.score([half], [{"reward": "code", "tests": {"inputs": ["", "1"], "outputs": ["3", "3"]}}])
    assert results[0].status == "ok" and results[0].score == 0.0


def test_local_settings_are_the_jobs_and_typos_are_caught() -> None:
    from actors.reward_worker import RewardWorker
    from rlsys.core.config import RewardsConfig

    RewardWorker(RewardsConfig(settings={"code": {"timeout_s": 2, "unsafe_no_sandbox": False}}))  # the operator's
    with pytest.raises(ValueError, match=r"rewards.settings.code.timeot_s: reward 'code' has no such setting"):
        RewardWorker(RewardsConfig(settings={"code": {"timeot_s": 2}}))
