"""Checkpoint folders that become visible only when complete, and finding the newest one.

Why: a job can die at any moment (kill -9, an OOM kill, a lost node). A checkpoint is written
into a staging folder `checkpoints/.staging-step_N/`; when every file is there, a manifest
(`checkpoint.json`: each file and its size) is written last, every file and folder is fsynced,
and the staging folder is renamed to `checkpoints/step_N/` (one atomic rename on a POSIX file
system; the parent folder is fsynced after it). `latest_checkpoint` trusts only `step_N`
folders whose manifest is present and whose files all have the listed sizes, so a half-written
checkpoint, a folder that lost its manifest, or a complete one that was partly copied is never
resumed from. Old checkpoints are renamed away before they are deleted, for the same reason.

With several learner ranks every rank writes its own files into the same staging folder and
rank 0 publishes it after a barrier (actors/learner.py). Only one job may write a run folder.

Not covered: file systems without an atomic directory rename (some object-store FUSE mounts);
content checksums (sizes only: a flipped bit inside a file is not detected).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

MANIFEST = "checkpoint.json"
"""Written last into a checkpoint: {"format", "files": {relative path: size in bytes}, ...}."""
TRAINER_STATE = "trainer_state.json"
"""The driver's (or stage runner's) state: step, weight version, data position, ..."""
STAGING = ".staging-"
DELETING = ".deleting-"
_STEP = re.compile(r"step_(\d+)")


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:06d}"


def staging_dir(final: str | Path) -> Path:
    """Where the checkpoint `final` is written before it is published; the same on every rank."""
    final = Path(final)
    return final.parent / f"{STAGING}{final.name}"


def reset_dir(path: Path) -> Path:
    """An empty folder at `path` (whatever a crashed attempt left there is removed)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and folder under `root` (and `root` itself) to disk."""
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))


def write_json(path: Path, data: Any) -> None:
    """Write JSON through a temporary file, fsync and rename: a reader sees the old or the new file."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with tmp.open("w") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def publish(staging: Path, final: Path, **meta: Any) -> Path:
    """Write the manifest into `staging`, fsync everything, and rename it to `final`.

    A folder already at `final` (the unpublished leftover of a crashed attempt at this step) is
    renamed away first and deleted after."""
    files = {
        str(p.relative_to(staging)): p.stat().st_size
        for p in sorted(staging.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    write_json(staging / MANIFEST, {"format": 1, "files": files, **meta})
    fsync_tree(staging)
    old = None
    if final.exists():
        old = final.parent / f"{DELETING}{final.name}.{uuid.uuid4().hex[:8]}"
        final.rename(old)
    staging.rename(final)
    fsync_path(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoint_problem(path: str | Path) -> str | None:
    """Why `path` is not a complete checkpoint, or None when it is."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        return f"no {MANIFEST} (it is written last: the checkpoint was not finished)"
    except (OSError, ValueError) as exc:
        return f"{MANIFEST} unreadable ({exc})"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return f"{MANIFEST} has no file list"
    for name, size in manifest["files"].items():
        f = path / name
        if not f.is_file():
            return f"{name} is missing"
        if f.stat().st_size != size:
            return f"{name} has {f.stat().st_size} bytes, the manifest says {size}"
    return None


def step_folders(run_dir: str | Path) -> list[Path]:
    """`checkpoints/step_N` folders, oldest step first (complete or not)."""
    root = Path(run_dir) / "checkpoints"
    found: list[tuple[int, Path]] = []
    for p in root.iterdir() if root.is_dir() else []:
        match = _STEP.fullmatch(p.name)
        if match and p.is_dir():
            found.append((int(match.group(1)), p))
    return [p for _, p in sorted(found, key=lambda step_path: step_path[0])]


def complete_checkpoints(run_dir: str | Path) -> list[Path]:
    return [p for p in step_folders(run_dir) if checkpoint_problem(p) is None]


def incomplete_checkpoints(run_dir: str | Path) -> list[tuple[Path, str]]:
    """Step folders that will not be resumed from, each with the reason."""
    return [(p, why) for p in step_folders(run_dir) if (why := checkpoint_problem(p)) is not None]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run folder (see `checkpoint_problem`), or None."""
    done = complete_checkpoints(run_dir)
    return done[-1] if done else None


def read_manifest(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / MANIFEST).read_text())


def read_trainer_state(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / TRAINER_STATE).read_text())


def remove(path: Path) -> None:
    """Rename a checkpoint away, then delete it: a half-deleted folder is never taken for one."""
    doomed = path.parent / f"{DELETING}{path.name}.{uuid.uuid4().hex[:8]}"
    path.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Keep the `keep` newest complete checkpoints; delete older complete ones."""
    for old in complete_checkpoints(run_dir)[:-keep]:
        remove(old)


def remove_leftovers(run_dir: str | Path) -> list[Path]:
    """Delete staging and half-deleted folders a killed job left behind (one job per run folder:
    nothing else can be writing them); returns what was removed."""
    root = Path(run_dir) / "checkpoints"
    gone = [p for p in root.iterdir() if p.name.startswith((STAGING, DELETING))] if root.is_dir() else []
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return gone
