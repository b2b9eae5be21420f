"""A DeepSpeed build killed midway must not stall every later DeepSpeed start (actors/ds_ops.py).

The attack: a `lock` file left in the shm op's build folder, as a killed first run leaves it.
torch's own loader then waits forever; `prebuild_shm_op` removes it under its own kernel lock
and builds (or loads) the op.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.ds_ops import extensions_root, remove_dead_batons

BARE_LOAD = """
from deepspeed.accelerator import get_accelerator
get_accelerator().create_op_builder("ShareMemCommBuilder").load(verbose=False)
print("loaded")
"""
PREBUILD = "from actors.ds_ops import prebuild_shm_op; print('built', prebuild_shm_op())"


def op_folder() -> Path:
    from deepspeed.accelerator import get_accelerator
    from torch.utils.cpp_extension import _get_build_directory

    name = get_accelerator().create_op_builder("ShareMemCommBuilder").NAME
    return Path(_get_build_directory(name, verbose=False))


def run(code: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)


def test_only_the_named_ops_batons_are_removed(tmp_path):
    env_root = tmp_path / "deepspeed_shm_comm" / "lock"  # layout under $TORCH_EXTENSIONS_DIR
    default_root = tmp_path / "py311_cpu" / "deepspeed_shm_comm" / "lock"  # under torch's cache folder
    other = tmp_path / "py311_cpu" / "someone_else" / "lock"
    for f in (env_root, default_root, other):
        f.parent.mkdir(parents=True)
        f.touch()
    assert remove_dead_batons(tmp_path, "deepspeed_shm_comm") == [env_root, default_root]
    assert not env_root.exists() and not default_root.exists() and other.exists()


def test_a_dead_builds_lock_no_longer_stalls_deepspeed():
    assert extensions_root() == Path(os.environ["TORCH_EXTENSIONS_DIR"])  # conftest: this checkout's own
    assert "built True" in run(PREBUILD, timeout=900).stdout  # built once, as any DeepSpeed test would
    baton = op_folder() / "lock"
    baton.touch()  # what a build killed midway leaves
    with pytest.raises(subprocess.TimeoutExpired):
        run(BARE_LOAD, timeout=20)  # torch's loader waits on it forever
    out = run(PREBUILD, timeout=300)
    assert "built True" in out.stdout, out.stderr[-2000:]
    assert not baton.exists()
