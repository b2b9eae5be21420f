"""Rendezvous of learner ranks: a free port, and the process-group environment for DeepSpeed.

Not covered yet: ranks on several nodes (MASTER_ADDR is the address the caller passes; the Ray
cluster picks it), and LOCAL_RANK under Ray (each actor sees its own CUDA_VISIBLE_DEVICES).
"""
from __future__ import annotations

import os
import socket

import torch


def free_port() -> int:
    """A TCP port that was free on this host a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_process_group(rank: int, world_size: int, master_addr: str, master_port: int) -> None:
    """Environment for `deepspeed.init_distributed`; gloo on CPU, NCCL on CUDA."""
    import deepspeed

    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank if torch.cuda.is_available() else 0),
        WORLD_SIZE=str(world_size),
        MASTER_ADDR=master_addr,
        MASTER_PORT=str(master_port),
    )
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False)
