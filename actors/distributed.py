"""Where a learner rank computes and how the ranks meet: its device, a free port, the process group.

- `local_device`: the accelerator of this process, or the CPU. Under Ray every actor sees only
  the GPUs it was given (Ray sets `CUDA_VISIBLE_DEVICES` per actor), so a learner actor's GPU is
  `cuda:0` of what it sees, whatever its rank: the Ray layer passes `local_rank=0`. Launchers that
  show every GPU of a node to every process (torchrun, the deepspeed launcher) set `LOCAL_RANK`,
  which is used when no local rank is given.
- `free_port`: a port that was free on this host (on every interface) a moment ago. The Ray layer
  asks for it on the node of rank 0 (`actors.group.rank0_address`), together with that node's IP,
  so that ranks on several nodes meet there.
- `init_process_group`: torch.distributed with NCCL on CUDA and gloo on CPU, the same call;
  DeepSpeed finds the group initialized and uses it.

Not covered: several nodes without a shared filesystem for checkpoints (every rank writes its
DeepSpeed shard under the same checkpoint folder), and Ray's `RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES`
(every actor then sees every GPU: pass `local_rank` from `ray.get_gpu_ids()` yourself).
"""

from __future__ import annotations

import datetime
import os
import socket

import torch


def free_port() -> int:
    """A TCP port that was free on every interface of this host a moment ago."""
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def local_device(local_rank: int | None = None) -> torch.device:
    """`cuda:<local_rank>` when CUDA is available, else the CPU.

    `local_rank` None: `LOCAL_RANK` from the environment (a launcher's), else 0.
    """
    if not torch.cuda.is_available():
        return torch.device("cpu")
    if local_rank is None:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    visible = torch.cuda.device_count()
    if not 0 <= local_rank < visible:
        raise RuntimeError(
            f"local rank {local_rank} has no GPU: this process sees {visible} "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '(unset)')})"
        )
    return torch.device("cuda", local_rank)


def init_process_group(
    rank: int, world_size: int, master_addr: str, master_port: int, device: torch.device, timeout_s: float = 1800.0
) -> None:
    """Join the learner ranks' process group (once per process): NCCL on CUDA, gloo on CPU.

    Also sets the launcher variables (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) that
    DeepSpeed reads.
    """
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(device.index or 0),
        WORLD_SIZE=str(world_size),
        MASTER_ADDR=master_addr,
        MASTER_PORT=str(master_port),
    )
    if torch.distributed.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo",
        init_method=f"tcp://{master_addr}:{master_port}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=timeout_s),
        device_id=device if device.type == "cuda" else None,
    )
