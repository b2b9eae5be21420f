"""Run untrusted, model-generated programs in a bubblewrap sandbox as a throw-away uid.

Threat model: the program is hostile. An RL policy under optimisation pressure writes code
that may, by accident or by learned reward hacking, read the reward's secrets or the host's
files, reach the network, write outside its scratch space, fork-bomb, eat memory, flood its
output, loop forever, or leave processes behind. Each run is therefore:

- started through `prlimit` (rlimits AS, CPU, NPROC, FSIZE, NOFILE, CORE=0) and `setpriv` as an
  unprivileged uid/gid that is unique to its slot (60000 + n by default, skipped when the host
  knows that id). RLIMIT_NPROC counts per uid and is ignored for root, so a distinct uid per
  concurrent run is what makes a fork bomb stop at `nproc` processes;
- confined by `bwrap --unshare-all --disable-userns --die-with-parent --new-session
  --cap-drop ALL`: new user, pid, net (loopback only, down), ipc, uts and cgroup namespaces;
  a read-only root holding only /usr (plus the /bin, /lib, /lib64 links), /proc of its own pid
  namespace, a minimal /dev, and size-capped tmpfs at /tmp and /dev/shm. No /etc, /home, /root
  or project tree; `--clearenv` plus PATH, HOME, LANG, TMPDIR, so no parent secret leaks;
  the program's files arrive as read-only copies under /box (`--ro-bind-data` from memfds),
  so nothing is written on the host. `/bin/sh` is the namespace's pid 1 (`--as-pid-1`) and
  runs the program as its child: the program keeps normal signal semantics, and when the run
  ends the kernel kills everything left in the namespace (a double-forked child included)
  without orphaning anything to the host's init (zombies there would count against NPROC);
- killed at the wall-clock deadline or when its output passes the cap (the process group, then
  every process still owned by the slot uid, found through /proc), and the uid is only handed to
  the next run after that sweep. Slots are claimed with `flock` on one file per uid, so several
  reward workers on one host never share a uid.

Not covered: kernel or bubblewrap exploits (namespaces and rlimits are the only walls; no
seccomp filter, no separate VM), side channels (timing, cache, /proc/meminfo and other global
kernel counters that a pid namespace does not hide), fairness of CPU time between concurrent
runs (no cgroups: a heavy run slows its neighbours and can push them past their wall clock),
total host memory under many concurrent runs (RLIMIT_AS is per process: nproc x memory_mb is
the bound, plus tmpfs), disk-less but memory-backed tmpfs pressure up to 2 x tmp_mb per run,
and reward hacking by introspection of the test harness (see rewards/code.py). Everything under
/usr is readable by the program. Starting runs as other uids needs root; without root (or
without a working `bwrap`) the sandbox is unavailable and says so: it fails closed.

`RLSYS_BWRAP` names another bwrap binary. The explicit opt-out (`unsafe_no_sandbox=True` or `RLSYS_UNSAFE_NO_SANDBOX=1`) runs a plain
subprocess with the same rlimits except NPROC, in a temporary directory, with a clean
environment and a process-group kill, and logs a warning for every batch. It is for trusted
code on a laptop, never for a policy's output. Both are the operator's: the environment of the
process, the job config, or a reward server's start settings; a request to a reward server can
set neither (rewards/settings.py), and a server started with either says so (log, /healthz).
"""

from __future__ import annotations

import fcntl
import grp
import logging
import math
import os
import pwd
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

BOX = "/box"  # where a job's files appear inside the sandbox
UNSAFE_ENV = "RLSYS_UNSAFE_NO_SANDBOX"
BWRAP_ENV = "RLSYS_BWRAP"  # path of the bwrap binary, if not `bwrap` on PATH
INSTALL_HINT = (
    "install bubblewrap (`apt-get install -y bubblewrap`; util-linux provides setpriv and prlimit) "
    "and run the reward worker as root so each run can start as its own unprivileged uid; "
    f"to run untrusted code without isolation anyway, set unsafe_no_sandbox=True or {UNSAFE_ENV}=1"
)
_CHUNK = 65536
_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"}


class SandboxUnavailable(RuntimeError):
    """bubblewrap (or root, setpriv, prlimit) is missing or cannot start a sandbox."""


@dataclass(frozen=True)
class Limits:
    """Per-run limits. `cpu_s=None` means the wall-clock timeout rounded up, plus one second."""

    timeout_s: float = 5.0
    memory_mb: int = 512
    cpu_s: int | None = None
    nproc: int = 32
    file_mb: int = 16
    nofile: int = 64
    tmp_mb: int = 64
    max_output_bytes: int = 1 << 20


@dataclass(frozen=True)
class Job:
    """One program run: argv inside the sandbox, its stdin, and files placed under /box."""

    argv: Sequence[str]
    stdin: bytes = b""
    files: Mapping[str, bytes] = field(default_factory=dict)
    limits: Limits = Limits()


@dataclass(frozen=True)
class RunResult:
    """What a run did. `killed` is "", "timeout", "cpu_limit" or "output_limit"."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    truncated: bool
    timed_out: bool
    killed: str
    wall_s: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.killed


class _UidPool:
    """Slot uids, each claimed by an exclusive flock on its own file (works across processes)."""

    def __init__(self, base_uid: int, count: int, lock_dir: str) -> None:
        self.uids = [u for u in range(base_uid, base_uid + count) if _unknown_id(u)]
        if not self.uids:
            raise SandboxUnavailable(f"every uid in {base_uid}..{base_uid + count - 1} is a known user or group")
        self.lock_dir = lock_dir
        os.makedirs(lock_dir, mode=0o700, exist_ok=True)
        self._next = 0
        self._lock = threading.Lock()

    def acquire(self) -> tuple[int, int]:
        while True:
            with self._lock:
                start, self._next = self._next, self._next + 1
            for i in range(len(self.uids)):
                uid = self.uids[(start + i) % len(self.uids)]
                fd = os.open(os.path.join(self.lock_dir, f"uid-{uid}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return uid, fd
                except BlockingIOError:
                    os.close(fd)
            time.sleep(0.02)  # every uid busy (other workers on this host): wait for one

    @staticmethod
    def release(fd: int) -> None:
        os.close(fd)  # closing the descriptor drops the flock


def _unknown_id(uid: int) -> bool:
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return False
        except KeyError:
            pass
    return True


_POOLS: dict[tuple[int, int, str], _UidPool] = {}
_CHECKED: dict[tuple[str, int, int], str] = {}  # "" = works, else why not
_CHECK_LOCK = threading.Lock()  # held while probing, so a batch waits for one probe
_POOL_LOCK = threading.Lock()


def unsafe_requested(flag: bool | None = None) -> bool:
    """The opt-out: an explicit flag wins; otherwise RLSYS_UNSAFE_NO_SANDBOX=1."""
    if flag is not None:
        return bool(flag)
    return os.environ.get(UNSAFE_ENV, "") not in ("", "0", "false", "False")


class Sandbox:
    """A bounded pool of sandbox slots. `run` is thread-safe; `map` runs a batch concurrently."""

    def __init__(
        self,
        *,
        concurrency: int = 4,
        bwrap: str | None = None,
        base_uid: int = 60000,
        uid_count: int = 256,
        lock_dir: str | None = None,
        unsafe_no_sandbox: bool | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = concurrency
        self.bwrap = bwrap or os.environ.get(BWRAP_ENV) or "bwrap"
        self._tools = {t: shutil.which(t) or t for t in (self.bwrap, "setpriv", "prlimit")}
        self.base_uid, self.uid_count = base_uid, uid_count
        self.lock_dir = lock_dir or os.path.join(tempfile.gettempdir(), "rlsys-sandbox-uids")
        self.unsafe = unsafe_requested(unsafe_no_sandbox)
        self._slots = threading.BoundedSemaphore(concurrency)

    # ---- availability (fail closed) -------------------------------------------------------
    def check(self) -> None:
        """Raise SandboxUnavailable unless a trivial sandboxed run works; cached per process."""
        if self.unsafe:
            return
        key = (self.bwrap, self.base_uid, self.uid_count)
        with _CHECK_LOCK:
            if key not in _CHECKED:
                _CHECKED[key] = self._probe()
            problem = _CHECKED[key]
        if problem:
            raise SandboxUnavailable(f"code sandbox unavailable: {problem}; {INSTALL_HINT}")

    def _probe(self) -> str:
        for tool in (self.bwrap, "setpriv", "prlimit"):
            if shutil.which(tool) is None:
                return f"{tool!r} not found on PATH"
        if os.geteuid() != 0:
            return f"running as uid {os.geteuid()}, not root: cannot start runs as separate uids"
        try:
            result = self._run_sandboxed(Job(["/usr/bin/true"], limits=Limits(timeout_s=10)))
        except (OSError, SandboxUnavailable) as exc:
            return f"{self.bwrap} failed to start: {exc}"
        if result.exit_code != 0:
            return f"{self.bwrap} test run exited {result.exit_code}: {result.stderr[-500:].decode(errors='replace')}"
        return ""

    def _pool(self) -> _UidPool:
        key = (self.base_uid, self.uid_count, self.lock_dir)
        with _POOL_LOCK:
            if key not in _POOLS:
                _POOLS[key] = _UidPool(self.base_uid, self.uid_count, self.lock_dir)
            return _POOLS[key]

    # ---- running --------------------------------------------------------------------------
    def map(self, jobs: Sequence[Job]) -> list[RunResult]:
        """Run a batch, at most `concurrency` at once; results in job order."""
        if not jobs:
            return []
        if self.unsafe:
            log.warning(
                "UNSAFE: running %d untrusted program(s) WITHOUT a sandbox (unsafe_no_sandbox=True or "
                "%s=1): model-generated code can read and change this host",
                len(jobs),
                UNSAFE_ENV,
            )
        else:
            self.check()
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs))) as ex:
            return list(ex.map(self.run, jobs))

    def run(self, job: Job) -> RunResult:
        """Run one job in a slot (blocks while all slots are busy)."""
        for path in job.files:
            if os.path.dirname(path) != BOX or os.path.basename(path) in ("", ".", ".."):
                raise ValueError(f"job file {path!r} must be a plain name directly under {BOX}/")
        with self._slots:
            if self.unsafe:
                return self._run_unsafe(job)
            self.check()
            return self._run_sandboxed(job)

    def _run_sandboxed(self, job: Job) -> RunResult:
        pool = self._pool()
        uid, lock_fd = pool.acquire()
        memfds: list[int] = []
        try:
            _kill_uid(uid)  # a crashed earlier holder may have left something behind
            cmd = _rlimit_cmd(self._tools["prlimit"], job.limits, nproc=True)
            cmd += [
                self._tools["setpriv"],
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--no-new-privs",
                "--",
            ]
            cmd += self._bwrap_cmd(job, memfds)
            return _execute(cmd, job, pass_fds=memfds, cwd="/", uid=uid)
        finally:
            for fd in memfds:
                os.close(fd)
            pool.release(lock_fd)  # _execute swept the uid before its process was reaped

    def _bwrap_cmd(self, job: Job, memfds: list[int]) -> list[str]:
        tmp = str(job.limits.tmp_mb << 20)
        cmd = [
            self._tools[self.bwrap],
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--as-pid-1",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
            if os.path.islink(top):
                cmd += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):  # hosts without merged /usr
                cmd += ["--ro-bind", top, top]
        cmd += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            tmp,
            "--tmpfs",
            "/dev/shm",
            "--size",
            tmp,
            "--tmpfs",
            "/tmp",
            "--dir",
            BOX,
            "--chdir",
            "/tmp",
            "--clearenv",
        ]
        for key, value in _ENV.items():
            cmd += ["--setenv", key, value]
        for path, data in job.files.items():
            fd = os.memfd_create("rlsys-box")
            memfds.append(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.lseek(fd, 0, os.SEEK_SET)
            cmd += ["--perms", "0555", "--ro-bind-data", str(fd), path]
        # Read-only last: bwrap's own root and /dev are tmpfs without a size cap.
        cmd += ["--remount-ro", "/dev", "--remount-ro", "/", "--"]
        # /bin/sh is pid 1 (--as-pid-1) and outer bwrap's direct child: the program keeps normal
        # signal semantics, and nothing is orphaned to the host's init when the run ends.
        return cmd + ["/bin/sh", "-c", '"$@"; exit $?', "sh", *job.argv]

    def _run_unsafe(self, job: Job) -> RunResult:
        with tempfile.TemporaryDirectory(prefix="rlsys-unsafe-") as tmp:
            for path, data in job.files.items():
                dest = os.path.join(tmp, os.path.basename(path))
                with open(dest, "wb") as f:
                    f.write(data)
                os.chmod(dest, 0o555)
            argv = [tmp + a[len(BOX) :] if a.startswith(BOX + "/") else a for a in job.argv]
            env = dict(_ENV, HOME=tmp, TMPDIR=tmp)
            return _execute(_rlimit_cmd(self._tools["prlimit"], job.limits, nproc=False) + argv, job, cwd=tmp, env=env)


def _rlimit_cmd(prlimit: str, limits: Limits, *, nproc: bool) -> list[str]:
    cpu = limits.cpu_s if limits.cpu_s is not None else math.ceil(limits.timeout_s) + 1
    cmd = [
        prlimit,
        f"--as={limits.memory_mb << 20}",
        f"--cpu={cpu}:{cpu + 1}",
        f"--fsize={limits.file_mb << 20}",
        f"--nofile={limits.nofile}",
        "--core=0",
    ]
    if nproc:
        cmd.append(f"--nproc={limits.nproc}")
    return cmd + ["--"]


def _execute(
    cmd: list[str],
    job: Job,
    *,
    cwd: str,
    pass_fds: Sequence[int] = (),
    uid: int | None = None,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    start = time.monotonic()
    deadline = start + job.limits.timeout_s
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=dict(env or _ENV),
        pass_fds=tuple(pass_fds),
        start_new_session=True,
        close_fds=True,
    )
    try:
        out, err, truncated, killed = _communicate(proc, job.stdin, deadline, job.limits.max_output_bytes)
        if not killed:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed = "timeout"
    finally:
        if uid is not None:  # the sandbox first, so that bwrap reaps its own init (no orphans)
            _kill_uid(uid, spare=proc.pid)
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(proc)
        if uid is not None:
            _kill_uid(uid)
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream and not stream.closed:
                stream.close()
    code = proc.returncode
    if not killed and code in (128 + signal.SIGXCPU, -signal.SIGXCPU):
        killed = "cpu_limit"
    return RunResult(code, out, err, truncated, killed in ("timeout", "cpu_limit"), killed, time.monotonic() - start)


def _communicate(proc: subprocess.Popen, stdin: bytes, deadline: float, cap: int) -> tuple[bytes, bytes, bool, str]:
    """Feed stdin and read both pipes until EOF, the deadline, or more than `cap` bytes on one."""
    assert proc.stdin and proc.stdout and proc.stderr
    bufs = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    pending = memoryview(stdin)
    with selectors.DefaultSelector() as sel:
        for fd in bufs:
            sel.register(fd, selectors.EVENT_READ)
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(bufs[proc.stdout.fileno()]), bytes(bufs[proc.stderr.fileno()]), False, "timeout"
            for key, _ in sel.select(left):
                fd = key.fd
                if fd not in bufs:  # stdin is writable
                    pending = _feed(fd, pending)
                    if not pending:
                        sel.unregister(fd)
                        proc.stdin.close()
                    continue
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    sel.unregister(fd)
                    continue
                bufs[fd] += chunk
                if len(bufs[fd]) > cap:
                    out, err = (bytes(bufs[f][:cap]) for f in (proc.stdout.fileno(), proc.stderr.fileno()))
                    return out, err, True, "output_limit"
    return bytes(bufs[proc.stdout.fileno()]), bytes(bufs[proc.stderr.fileno()]), False, ""


def _feed(fd: int, pending: memoryview) -> memoryview:
    try:
        return pending[os.write(fd, pending[:_CHUNK]) :]
    except BlockingIOError:
        return pending
    except BrokenPipeError:  # the program stopped reading: the rest of its input is dropped
        return pending[len(pending) :]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_uid(uid: int, spare: int | None = None, rounds: int = 100) -> None:
    """SIGKILL every live process owned by `uid` but `spare` until none is left (zombies skipped)."""
    for _ in range(rounds):
        alive = [pid for pid in _pids_of(uid) if pid != spare and not _is_zombie(pid)]
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    log.error("sandbox uid %d still owns processes after %d kill rounds", uid, rounds)


def _pids_of(uid: int) -> list[int]:
    pids = []
    with os.scandir("/proc") as it:
        for entry in it:
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == uid:
                        pids.append(int(entry.name))
                except FileNotFoundError:
                    pass
    return pids


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
