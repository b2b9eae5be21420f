"""Containment tests for rewards/sandbox.py with real bubblewrap (nothing mocked).

Skipped where the sandbox cannot start (no bwrap, not root) unless RLSYS_REQUIRE_SANDBOX=1,
which CI sets so that a broken sandbox fails instead of skipping.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rewards.sandbox import BOX, Job, Limits, Sandbox, SandboxUnavailable

REPO = Path(__file__).resolve().parents[1]
PY = "/usr/bin/python3"
SANDBOX_UIDS = range(60000, 60256)


def sandbox_or_skip(**kwargs) -> Sandbox:
    sandbox = Sandbox(**kwargs)
    try:
        sandbox.check()
    except SandboxUnavailable as exc:
        if os.environ.get("RLSYS_REQUIRE_SANDBOX") == "1":
            raise
        pytest.skip(str(exc))
    return sandbox


def stray_sandbox_pids() -> list[tuple[int, int, str]]:
    """(pid, uid, /proc stat) of every process, zombies included, owned by a sandbox uid."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                uid = entry.stat().st_uid
                if uid in SANDBOX_UIDS:
                    found.append((int(entry.name), uid, Path(entry.path, "stat").read_text()[:60]))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


@pytest.fixture(scope="module")
def sandbox():
    sandbox = sandbox_or_skip(concurrency=16)
    yield sandbox
    assert stray_sandbox_pids() == [], "processes owned by sandbox uids outlived the tests"


def py(code: str, timeout_s: float = 10.0, **limits) -> Job:
    return Job([PY, "-I", "-c", code], limits=Limits(timeout_s=timeout_s, **limits))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


NET = """
import json, socket
out = {}
for host, port in (("127.0.0.1", %d), ("1.1.1.1", 53), ("1.1.1.1", 80)):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect((host, port)); out[host + ":" + str(port)] = "connected"
    except OSError as e:
        out[host + ":" + str(port)] = type(e).__name__
try:
    socket.getaddrinfo("example.com", 80); out["dns"] = "resolved"
except OSError as e:
    out["dns"] = type(e).__name__
print(json.dumps(out))
"""
READ = """
import json, os
paths = %r
seen = {p: os.path.exists(p) for p in paths}
for p in paths:
    try:
        open(p, "rb").read(1); seen[p] = "READ"
    except OSError:
        pass
seen["env"] = os.environ.get("RLSYS_SECRET_TEST")
seen["pid1_env"] = "xyz" in open("/proc/1/environ", "rb").read().decode(errors="replace")
seen["listdir"] = sorted(os.listdir("/"))
print(json.dumps(seen))
"""
WRITE = """
import json, os
done = {}
for p in %r:
    try:
        with open(p, "w") as f: f.write("pwned")
        done[p] = "written"
    except OSError as e:
        done[p] = type(e).__name__
try:
    with open("/tmp/big", "wb") as f:
        f.write(b"x" * (20 << 20))
    done["file_limit"] = "written"
except OSError as e:
    done["file_limit"] = e.strerror
total = 0
try:
    for i in range(20):
        with open(f"/tmp/part{i}", "wb") as f:
            for _ in range(15):
                f.write(b"x" * (1 << 20)); f.flush(); total += 1
except OSError as e:
    done["tmp_full"] = [e.strerror, total]
try:
    os.setuid(0); done["setuid"] = "root"
except OSError as e:
    done["setuid"] = e.strerror
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
done["userns"] = "created" if libc.unshare(0x10000000) == 0 else os.strerror(ctypes.get_errno())
print(json.dumps(done))
"""
NPROC = """
import os, time
n = 0
while True:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(5); os._exit(0)
    n += 1
print(n)
"""
FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
MEMORY_BOMB = """
chunks = []
while True:
    chunks.append(bytearray(64 << 20))
"""
OUTLIVE = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
print("parent done", flush=True)
"""
SURVIVOR = "import time; time.sleep(2); print('alive')"


def test_containment_under_16_concurrent_runs(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("RLSYS_SECRET_TEST", "xyz")
    canary = tmp_path / "canary.txt"
    canary.write_text("do not touch\n")
    watched = [canary, REPO / "rewards" / "base.py", REPO / "rewards" / "sandbox.py"]
    before = [sha(p) for p in watched]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    secrets = [
        str(REPO / "rewards" / "base.py"),
        "/work",
        "/root",
        "/home",
        "/etc/shadow",
        "/etc/passwd",
        str(canary),
        "/root/.ssh",
    ]
    writes = [str(canary), "/x", f"{BOX}/x", "/usr/x", "/dev/x", "/etc/x", "/proc/x"]
    jobs = {
        "net": py(NET % port),
        "read": py(READ % secrets),
        "write": py(WRITE % writes),
        "fork_bomb": py(FORK_BOMB, timeout_s=3),
        "memory_bomb": py(MEMORY_BOMB, timeout_s=10, memory_mb=256),
        "loop": py("while True: pass", timeout_s=2),
        "cpu": py("while True: pass", timeout_s=30, cpu_s=1),
        "flood": py("import sys\nwhile True: sys.stdout.write('y' * 65536)", max_output_bytes=100_000),
        "outlive": py(OUTLIVE),
        "kill_all_py": py("import os; os.kill(-1, 9); print('still here')"),
        "kill_all_sh": Job(
            ["/bin/sh", "-c", "sleep 30 & kill -9 -1; wait; echo shell-survived"], limits=Limits(timeout_s=10)
        ),
        "nproc": py(NPROC),
        "stdin": Job(
            [PY, "-I", f"{BOX}/echo.py"],
            stdin=b"z" * (3 << 20),
            files={f"{BOX}/echo.py": b"import sys; print(len(sys.stdin.buffer.read()))"},
        ),
    }
    for i in range(16 - len(jobs)):
        jobs[f"survivor{i}"] = py(SURVIVOR)
    assert len(jobs) == 16
    start = time.monotonic()
    results = dict(zip(jobs, sandbox.map(list(jobs.values())), strict=True))
    elapsed = time.monotonic() - start
    for name, result in results.items():  # shown by pytest -s or on failure
        print(
            f"{name}: exit={result.exit_code} killed={result.killed!r} wall={result.wall_s:.2f}s "
            f"out={result.stdout[:300]!r} err={result.stderr[-200:]!r}"
        )

    net = json.loads(results["net"].stdout)
    assert all(v not in ("connected", "resolved") for v in net.values()), net
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing from the sandbox reached the host's loopback
    listener.close()

    seen = json.loads(results["read"].stdout)
    assert all(seen[p] is False for p in secrets), seen
    assert seen["env"] is None and seen["pid1_env"] is False
    assert set(seen["listdir"]) <= {"bin", "box", "dev", "lib", "lib32", "lib64", "proc", "sbin", "tmp", "usr"}

    done = json.loads(results["write"].stdout)
    assert all(done[p] != "written" for p in writes), done
    assert done["file_limit"] == "File too large", done  # RLIMIT_FSIZE (16 MiB)
    assert done["tmp_full"][0] == "No space left on device" and done["tmp_full"][1] <= 64, done  # tmpfs cap
    assert done["setuid"] != "root" and done["userns"] != "created", done
    assert 0 < int(results["nproc"].stdout) < 32  # RLIMIT_NPROC per slot uid

    bomb = results["fork_bomb"]
    assert bomb.timed_out and bomb.killed == "timeout"
    assert results["memory_bomb"].exit_code == 1 and b"MemoryError" in results["memory_bomb"].stderr
    assert results["loop"].timed_out and results["loop"].killed == "timeout"
    assert results["cpu"].killed == "cpu_limit" and results["cpu"].wall_s < 20
    flood = results["flood"]
    assert flood.killed == "output_limit" and flood.truncated and len(flood.stdout) == 100_000
    outlive = results["outlive"]
    assert outlive.stdout == b"parent done\n" and not outlive.timed_out and outlive.wall_s < 9
    assert not results["kill_all_py"].timed_out and results["kill_all_sh"].stdout == b"shell-survived\n"
    assert results["kill_all_sh"].wall_s < 9  # its own `sleep 30` was killed
    assert results["stdin"].stdout.strip() == str(3 << 20).encode()
    for name, result in results.items():
        if name.startswith("survivor"):
            assert result.stdout == b"alive\n" and result.exit_code == 0, (name, result)

    assert [sha(p) for p in watched] == before
    assert stray_sandbox_pids() == []
    assert elapsed < 30


def test_kill_all_does_not_reach_host(sandbox):
    host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        result = sandbox.run(Job(["/bin/sh", "-c", "kill -9 -1; echo done"], limits=Limits(timeout_s=10)))
        assert not result.timed_out
        assert host.poll() is None, "a host process died from kill -9 -1 in the sandbox"
    finally:
        host.kill()
        host.wait()


def test_files_and_exit_codes(sandbox):
    job = Job(
        [PY, "-I", f"{BOX}/main.py"],
        stdin=b"5\n",
        files={f"{BOX}/main.py": b"import sys\nn = int(input())\nprint(n * n)\nsys.exit(3)\n"},
    )
    result = sandbox.run(job)
    assert (result.exit_code, result.stdout, result.killed, result.truncated) == (3, b"25\n", "", False)
    assert 0 < result.wall_s < 10
    with pytest.raises(ValueError, match="directly under"):
        sandbox.run(Job(["true"], files={"/etc/x": b""}))


def test_fail_closed_without_bwrap(monkeypatch):
    monkeypatch.delenv("RLSYS_UNSAFE_NO_SANDBOX", raising=False)
    broken = Sandbox(bwrap="/nonexistent/bwrap")
    with pytest.raises(SandboxUnavailable, match="apt-get install -y bubblewrap"):
        broken.check()
    with pytest.raises(SandboxUnavailable, match="/nonexistent/bwrap"):
        broken.map([py("print(1)")])


def test_unsafe_opt_out_runs_and_warns(monkeypatch, caplog):
    monkeypatch.setenv("RLSYS_UNSAFE_NO_SANDBOX", "1")
    unsafe = Sandbox(bwrap="/nonexistent/bwrap")
    with caplog.at_level(logging.WARNING, logger="rewards.sandbox"):
        results = unsafe.map(
            [
                Job([PY, "-I", f"{BOX}/m.py"], files={f"{BOX}/m.py": b"print(6 * 7)"}),
                py("while True: pass", timeout_s=1),
            ]
        )
    assert results[0].stdout == b"42\n" and results[1].timed_out
    assert any("UNSAFE" in r.message and r.levelno == logging.WARNING for r in caplog.records)
