"""DeepSpeed's CPU shared-memory op, built before the process group meets, never behind a dead build.

On CPU, `deepspeed.init_distributed` JIT-builds the `deepspeed_shm_comm` op with torch's
`cpp_extension.load`, which guards the build folder with a bare `lock` file (torch's `FileBaton`,
no owner recorded). A build killed midway (Ctrl-C, a timeout, an OOM kill of the first run) leaves
that file behind, and every later DeepSpeed start on the host waits on it forever, with no message.

`prebuild_shm_op` builds (or loads) the op under an `fcntl` lock of its own on the extensions
folder: the kernel drops that lock when its holder dies, so whoever holds it knows that no other
rlsys process is building, and a `lock` file found then was left by a dead build and is removed.
Ranks build one after another and then meet (the build is outside the rendezvous, so two ranks
never wait on each other here).

Not covered: a build started by another program (not rlsys) at the same moment; it would see its
baton removed. Point `TORCH_EXTENSIONS_DIR` at a folder of your own to rule that out.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


def extensions_root() -> Path:
    """Where torch builds JIT extensions: $TORCH_EXTENSIONS_DIR or torch's user cache folder."""
    from torch.utils.cpp_extension import get_default_build_root

    return Path(os.environ.get("TORCH_EXTENSIONS_DIR") or get_default_build_root())


def remove_dead_batons(root: Path, op_name: str) -> list[Path]:
    """The `lock` files of `op_name`'s build folders under `root`, removed: `root/op_name` when
    $TORCH_EXTENSIONS_DIR is set, `root/py311_cpu/op_name` (one per python/CUDA flavour) under
    torch's default root. Call only while holding the rlsys build lock (`prebuild_shm_op`)."""
    stale = sorted([*root.glob(f"{op_name}/lock"), *root.glob(f"*/{op_name}/lock")])
    for baton in stale:
        logger.warning("removing %s: a build of %s was killed midway and left it", baton, op_name)
        baton.unlink(missing_ok=True)
    return stale


def prebuild_shm_op() -> bool:
    """Build or load DeepSpeed's shm comm op now (False when this accelerator has none)."""
    import deepspeed.ops
    from deepspeed.accelerator import get_accelerator

    builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if builder is None or not deepspeed.ops.__compatible_ops__.get(builder.NAME, False):
        return False
    root = extensions_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".rlsys-build.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # released by the kernel if this process dies
        remove_dead_batons(root, builder.NAME)
        builder.load(verbose=False)
    return True
