"""COMET / CometKiwi for evaluation and curation: a reward server in the QE environment.

Why a server: unbabel-comet needs transformers<5 and numpy<2, which cannot share a process with
vLLM's transformers 5. It lives in `.venv-qe` (scripts/setup_qe_env.sh) and is reached over
HTTP through this repo's reward service (rewards/service.py), the same way an RL job reaches it
with `rewards.remote`.

`qe_service(cfg)` (a context manager) gives a `QEService`: with `cfg.url` it talks to a server
someone else runs (and asks it which of `comet` / `comet_qe` it serves); otherwise it starts
`<cfg.python> -m rewards.service --rewards comet,comet_qe --port 0` with the checkpoints in
`RLSYS_COMET_MODEL` / `RLSYS_COMET_QE_MODEL`, waits for its "ready at" line, and stops it on exit.
When the QE interpreter does not exist, or the server does not come up, the service is
`available = False` with a `note` saying why and how to fix it: evaluation reports the note
instead of COMET numbers, it never stops on it.

Not covered: a server that needs a bearer token (run it without one on 127.0.0.1, or pass the
token through `rewards.remote_token_env` in a curation config), GPUs for COMET (it scores on CPU).
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlsys.core.pipeline_config import QEConfig

QE_REWARDS = ("comet", "comet_qe")
REPO = Path(__file__).resolve().parents[1]


@dataclass
class QEService:
    """Where COMET scores come from: `url` and the `served` metric names, or a `note` why not."""

    url: str | None = None
    served: tuple[str, ...] = ()
    note: str = ""
    _client: Any = field(default=None, repr=False)

    @property
    def available(self) -> bool:
        return bool(self.url and self.served)

    def score(self, name: str, outputs: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """One CompositeResult per output: reward `name` ("comet" / "comet_qe") on the rows' columns."""
        if self.url is None:
            raise RuntimeError(f"no QE server to score {name!r} with: {self.note or 'no url'}")
        if self._client is None:
            from rewards.client import RemoteReward

            self._client = RemoteReward(self.url, timeout_s=600.0)
        return self._client.score(list(outputs), [{**row, "reward": name} for row in rows])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def qe_python(cfg: QEConfig) -> Path | None:
    """The QE interpreter: `cfg.python` as given, else relative to the repository; None if missing."""
    given = Path(cfg.python)
    for path in (given, REPO / given) if not given.is_absolute() else (given,):
        if path.exists():
            return path
    return None


def _served(url: str) -> tuple[tuple[str, ...], str]:
    from rewards.client import RemoteReward

    try:
        with RemoteReward(url, retries=1) as client:
            names = {r["name"] for r in client.rewards()}
    except Exception as exc:  # noqa: BLE001  (any failure to reach it becomes the note)
        return (), f"COMET skipped: the QE server at {url} did not answer ({type(exc).__name__}: {exc})"
    served = tuple(n for n in QE_REWARDS if n in names)
    return served, "" if served else f"COMET skipped: the server at {url} serves neither comet nor comet_qe"


def _read_lines(stream: Any, lines: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


def _start(cfg: QEConfig, python: Path) -> tuple[subprocess.Popen, str | None, str]:
    names = [n for n, model in (("comet", cfg.comet_model), ("comet_qe", cfg.qe_model)) if model]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLSYS_COMET")}
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONIOENCODING="utf-8")
    if cfg.comet_model:
        env["RLSYS_COMET_MODEL"] = str(Path(cfg.comet_model).resolve())
    if cfg.qe_model:
        env["RLSYS_COMET_QE_MODEL"] = str(Path(cfg.qe_model).resolve())
    cmd = [str(python), "-m", "rewards.service", "--rewards", ",".join(names), "--port", "0", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    deadline, seen = time.monotonic() + cfg.startup_timeout_s, []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line.rstrip())
        if "reward service ready at " in line:
            return proc, line.split("ready at ", 1)[1].strip(), ""
    tail = " | ".join(seen[-5:]) or "no output"
    return proc, None, f"COMET skipped: the QE server ({' '.join(cmd[:3])}) did not start: {tail}"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def qe_service(cfg: QEConfig | None) -> Iterator[QEService]:
    """A QEService for the duration of the block (see the module docstring)."""
    if cfg is None:
        yield QEService(note="COMET not computed: no eval.qe in the config")
        return
    if cfg.url:
        served, note = _served(cfg.url)
        service = QEService(cfg.url, served, note)
        try:
            yield service
        finally:
            service.close()
        return
    python = qe_python(cfg)
    if python is None:
        yield QEService(
            note=f"COMET skipped: {cfg.python} does not exist; build the QE environment with "
            "scripts/setup_qe_env.sh (or set eval.qe.url to a running QE server)"
        )
        return
    proc, url, note = _start(cfg, python)
    served = tuple(n for n, m in (("comet", cfg.comet_model), ("comet_qe", cfg.qe_model)) if m) if url else ()
    service = QEService(url, served, note)
    try:
        yield service
    finally:
        service.close()
        _stop(proc)
