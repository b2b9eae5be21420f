"""Several rollout engines on Ray: the collective weight transport (gloo) into two real vLLM
engines, balancing by pending work with one engine made slower, colocated placement with the
sleep / wake_up sequence, and the settings that cannot run on CPU (vLLM tensor parallelism,
sleep mode) checked as what is passed to vLLM.

One local Ray instance for the module (its own temp dir); each test starts and kills its actors.
"""

from __future__ import annotations

import tempfile
import time

import pytest
import torch

from actors.rollout import RolloutWorker, engine_kwargs
from rlsys.core.config import RLConfig, RolloutConfig, load_config
from rlsys.core.types import TrainSample
from rlsys.dispatch import Balancer, plan_requests

PROMPTS = [
    "What is 2+3?",
    "Conta até três.",
    "Hallo!",
    "Traduz: o gato",
    "Say 7.",
    "Bonjour.",
    "Count: 1 2",
    "Name a colour.",
    "Qual é a capital?",
    "Write a digit.",
    "Hi there",
    "Tell me more.",
]


def rl_config(model: str, tmp_path, **sections) -> RLConfig:
    base = {
        "run": {"output_dir": str(tmp_path / "run")},
        "model": {"path": model},
        "data": {"path": str(tmp_path / "x")},
        "cluster": {"type": "ray", "learner_cpus": 1, "rollout_cpus": 1, "reward_cpus": 0.5},
        "rollout": {"samples_per_prompt": 2, "max_new_tokens": 8, "max_model_len": 128},
        "learner": {"lr": 2e-2, "micro_batch_tokens": 512},
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return RLConfig.model_validate(base)


# ---------------------------------------------------------------- settings (no Ray)


def test_tensor_parallel_size_and_sleep_mode_reach_vllm():
    cfg = RolloutConfig(tensor_parallel_size=4, gpu_memory_utilization=0.8)
    kw = engine_kwargs("/m", cfg, seed=1, dtype="bfloat16", sleep_mode=True, cuda=True, sleep_available=True)
    assert kw["tensor_parallel_size"] == 4 and kw["distributed_executor_backend"] == "mp"
    assert kw["enable_sleep_mode"] is True and kw["gpu_memory_utilization"] == 0.8
    assert (
        kw["worker_extension_cls"] == "actors.weight_sync.VLLMWeightLoader"
        and kw["logprobs_mode"] == "processed_logprobs"
    )
    cpu = engine_kwargs(
        "/m", RolloutConfig(), seed=1, dtype="float32", sleep_mode=True, cuda=False, sleep_available=False
    )
    assert cpu["tensor_parallel_size"] == 1 and cpu["distributed_executor_backend"] == "uni"
    assert "enable_sleep_mode" not in cpu and "gpu_memory_utilization" not in cpu


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"rollout": {"tensor_parallel_size": 2}}, "cluster.gpus_per_rollout to 2"),
        ({"rollout": {"tensor_parallel_size": 2, "backend": "hf"}, "cluster": {"gpus_per_rollout": 2}}, "backend vllm"),
        ({"rollout": {"weight_transport": "collective"}, "cluster": {"type": "inline"}}, "inline"),
        ({"cluster": {"type": "inline", "placement": "colocated"}}, "inline"),
        ({"cluster": {"placement": "colocated"}, "rollout": {"num_workers": 2}}, "must equal learner.num_workers"),
        (
            {
                "cluster": {"placement": "colocated", "gpus_per_learner": 1},
                "rollout": {"weight_transport": "collective"},
            },
            "NCCL",
        ),
        ({"cluster": {"placement": "colocated", "gpus_per_learner": 1, "gpus_per_rollout": 2}}, "gpus_per_rollout"),
    ],
)
def test_placement_and_transport_rules_name_the_keys(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        rl_config("m", tmp_path, **override)


def test_the_72b_recipe_runs_tensor_parallel_engines():
    from pathlib import Path

    from rlsys.core.pipeline_config import PipelineConfig

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs/towerplus/qwen2.5-72b.yaml", model=PipelineConfig)
    grpo = cfg.stages[-1]
    assert grpo.rollout.tensor_parallel_size == 4 == grpo.cluster.gpus_per_rollout


def test_requests_cover_every_prompt_once():
    assert plan_requests(10, 2, None) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]  # ceil(10 / 8) = 2
    assert plan_requests(5, 1, None) == [[0, 1, 2, 3, 4]]  # one engine: one batch
    assert plan_requests(5, 3, 2) == [[0, 1], [2, 3], [4]]


def test_balancer_gives_a_slower_engine_less_work():
    """Event simulation: engine 1 takes 3x as long per request as engine 0."""
    cost = [1.0, 3.0]
    balancer, clock, running, done = Balancer(2), 0.0, [], [0, 0]
    queue = list(range(24))
    while queue or running:
        while queue and (e := balancer.pick()) is not None:
            queue.pop()
            balancer.start(e, 2)
            busy_until = max([t for t, eng in running if eng == e], default=clock)
            running.append((busy_until + cost[e], e))  # an engine runs its requests one after another
        running.sort()
        clock, e = running.pop(0)
        balancer.finish(e, 2)
        done[e] += 1
    assert sum(done) == 24 and done[0] >= 2 * done[1] >= 2, done  # near the 3:1 speed ratio (17:7 with the tail)
    assert clock < 24  # a static 12:12 split would finish at 36


# ---------------------------------------------------------------- on Ray


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=4, include_dashboard=False, _temp_dir=tempfile.mkdtemp(prefix="r", dir="/tmp"))
    yield ray
    ray.shutdown()


def engine_greedy(worker, prompt_ids, n=8):
    """Runs inside a rollout actor (`__ray_call__`): greedy token ids from its vLLM engine."""
    from vllm import SamplingParams

    outs = worker.backend.llm.generate(
        [{"prompt_token_ids": p} for p in prompt_ids],
        SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True),
        use_tqdm=False,
    )
    return [list(o.outputs[0].token_ids) for o in outs]


def hf_greedy(model_path, state, prompt_ids, n=8):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path)
    model.load_state_dict(state, strict=False)  # a tied output embedding follows the input embedding
    out = []
    for p in prompt_ids:
        ids = torch.tensor([p])
        with torch.no_grad():
            seq = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=n,
                min_new_tokens=n,
                eos_token_id=None,
                pad_token_id=0,
            )
        out.append(seq[0, len(p) :].tolist())
    return out


def one_train_step(cluster, samples):
    batch = [
        TrainSample(s.prompt_ids, s.completion_ids, 1.0 if i % 2 else -1.0, s.logprobs) for i, s in enumerate(samples)
    ]
    return cluster.train(batch, sum(len(s.completion_ids) for s in batch), len(batch))


@pytest.mark.slow
def test_collective_sync_gives_every_engine_the_learners_greedy_output(local_ray, tiny_llama, tmp_path):
    from rlsys.cluster import RayCluster

    ray = local_ray
    cfg = rl_config(tiny_llama, tmp_path, rollout={"num_workers": 2, "weight_transport": "collective"})
    cluster = RayCluster(cfg)
    try:
        samples = cluster.generate(PROMPTS[:8])
        assert [s.prompt_index for s in samples] == [i for i in range(8) for _ in range(2)]
        assert {s.extras["engine"] for s in samples} == {0, 1} and {s.weight_version for s in samples} == {0}
        prompt_ids = [samples[2 * i].prompt_ids for i in range(4)]
        before = ray.get([a.__ray_call__.remote(engine_greedy, prompt_ids) for a in cluster.rollouts.actors])
        one_train_step(cluster, samples)
        assert cluster.sync_weights(1) > 0
        after = ray.get([a.__ray_call__.remote(engine_greedy, prompt_ids) for a in cluster.rollouts.actors])
        learner_state = ray.get(cluster.learners.actors[0].export_weights.remote(1)).data  # through the object store
        assert {s.weight_version for s in cluster.generate(PROMPTS[:4])} == {1}
    finally:
        cluster.shutdown()
    assert before[0] == before[1] and after[0] != before[0]  # the engines really run new weights ...
    assert after[0] == after[1] == hf_greedy(tiny_llama, learner_state, prompt_ids)  # ... the learner's


class SlowRolloutWorker(RolloutWorker):
    """A real engine that takes five times as long as itself (a slower GPU, a busy neighbour):
    after each request it waits four times what the request took, so it stays slower however
    loaded the machine is."""

    def generate(self, prompts, samples_per_prompt=None, seeds=None):
        start = time.perf_counter()
        samples = super().generate(prompts, samples_per_prompt, seeds)
        time.sleep(4 * (time.perf_counter() - start))
        return samples


@pytest.mark.slow
def test_a_slower_engine_gets_fewer_prompts_and_order_is_kept(local_ray, tiny_llama):
    from rlsys.dispatch import generate_balanced

    ray = local_ray
    cfg = RolloutConfig(samples_per_prompt=2, max_new_tokens=8, max_model_len=128)
    engines = [
        ray.remote(cls).options(num_cpus=1).remote(tiny_llama, cfg, seed=i)
        for i, cls in enumerate((RolloutWorker, SlowRolloutWorker))
    ]
    try:
        ray.get([e.generate.remote(PROMPTS[:1]) for e in engines])  # both started and warm
        samples = generate_balanced(engines, PROMPTS, 2, prompts_per_request=1)
    finally:
        ray.get([e.shutdown.remote() for e in engines])
        for e in engines:
            ray.kill(e)
    assert [s.prompt_index for s in samples] == [i for i in range(len(PROMPTS)) for _ in range(2)]
    per_engine = [len({s.prompt_index for s in samples if s.extras["engine"] == e}) for e in (0, 1)]
    assert sum(per_engine) == len(PROMPTS) and per_engine[1] >= 1
    assert per_engine[1] < per_engine[0], per_engine  # a static split would give 6 and 6
    for s in samples:  # each sample belongs to its prompt: the rendered prompt ids match
        assert s.prompt_ids == samples[2 * s.prompt_index].prompt_ids


@pytest.mark.slow
def test_colocated_engine_shares_the_learners_bundle_and_sleeps_while_it_trains(local_ray, tmp_path_factory, tmp_path):
    """gemma2 (tied embeddings) through the collective transport, colocated, two steps."""
    from rlsys.cluster import RayCluster
    from rlsys.toy.tiny import build_tiny_model

    ray = local_ray
    gemma = str(build_tiny_model(tmp_path_factory.mktemp("gemma2") / "m", "gemma2"))
    cfg = rl_config(gemma, tmp_path, cluster={"placement": "colocated"}, rollout={"weight_transport": "collective"})
    cluster = RayCluster(cfg)
    try:

        def pg_of(actor):
            return ray.get(actor.__ray_call__.remote(lambda _: ray.get_runtime_context().get_placement_group_id()))

        learner, engine = cluster.learners.actors[0], cluster.rollouts.actors[0]
        assert pg_of(learner) == pg_of(engine) == cluster.shared_pg.id.hex()
        bundles = ray.util.placement_group_table(cluster.shared_pg)["bundles"]
        assert list(bundles.values()) == [{"CPU": 2.0}]  # one bundle: learner_cpus + rollout_cpus
        for version in (1, 2):
            samples = cluster.generate(PROMPTS[:4])
            assert {s.weight_version for s in samples} == {version - 1}
            one_train_step(cluster, samples)
            cluster.sync_weights(version)
        events = ray.get(engine.__ray_call__.remote(lambda worker: list(worker.memory_events)))
        final = {s.weight_version for s in cluster.generate(PROMPTS[:2])}
    finally:
        cluster.shutdown()
    assert events == [
        "sleep@0",
        "wake_up(weights)@0",
        "wake_up(kv_cache)@1",
        "sleep@1",
        "wake_up(weights)@1",
        "wake_up(kv_cache)@2",
    ]
    assert final == {2}
