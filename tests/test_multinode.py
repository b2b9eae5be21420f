"""GRPO with its two learner ranks on two Ray nodes (both started on this machine with
`ray.cluster_utils.Cluster`): the ranks really sit on different nodes, meet at rank 0's
node address and a port picked there, train with DeepSpeed ZeRO-2 over gloo, checkpoint, and
resume from the 2-rank checkpoint.

Each node has 2 CPUs and each learner rank asks for 1.5, so Ray cannot pack both ranks on one
node. The nodes share this machine's IP; the node ids tell them apart.
"""

import json
import os
import tempfile

import pytest


def where(learner) -> dict:
    """Runs inside a learner actor (`__ray_call__`)."""
    import ray

    return {
        "node": ray.get_runtime_context().get_node_id(),
        "rank": learner.rank,
        "master": (os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]),
        "device": str(learner.device),
    }


def write_rows(path):
    with path.open("w") as fh:
        for i in range(8):
            fh.write(json.dumps({"prompt": f"Say {i}.", "reward": "length_penalty", "answer": str(i)}) + "\n")


@pytest.mark.slow
def test_grpo_learner_ranks_on_two_ray_nodes_train_and_resume(tiny_llama, tmp_path, monkeypatch):
    import ray
    from ray.cluster_utils import Cluster

    from rlsys import driver
    from rlsys.core.config import RLConfig

    ray.shutdown()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2,
            "include_dashboard": False,
            "temp_dir": tempfile.mkdtemp(prefix="r", dir="/tmp"),
        },
    )
    cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    seen: list[list[dict]] = []
    real_start = driver.start_cluster

    def start_and_look(cfg):
        started = real_start(cfg)
        seen.append(ray.get([a.__ray_call__.remote(where) for a in started.learners.actors]))
        return started

    monkeypatch.setattr(driver, "start_cluster", start_and_look)
    data = tmp_path / "rows.jsonl"
    write_rows(data)
    raw = {
        "run": {"output_dir": str(tmp_path / "run")},
        "model": {"path": tiny_llama},
        "cluster": {
            "type": "ray",
            "address": cluster.address,
            "learner_cpus": 1.5,
            "rollout_cpus": 0.5,
            "reward_cpus": 0.5,
        },
        "data": {"path": str(data)},
        "rollout": {"backend": "hf", "samples_per_prompt": 4, "max_new_tokens": 8, "max_model_len": 128},
        "learner": {"strategy": "deepspeed", "zero_stage": 2, "num_workers": 2, "lr": 1e-4, "micro_batch_tokens": 256},
        "algorithm": {"zero_variance_groups": "keep"},
        "rewards": {"settings": {"length_penalty": {"max_chars": 10}}},
        "train": {"steps": 2, "prompts_per_step": 4, "checkpoint_every": 1, "keep_checkpoints": 2},
    }
    try:
        ray.init(address=cluster.address)
        driver.train(RLConfig.model_validate(raw))
        raw["train"]["steps"] = 3
        final = driver.train(RLConfig.model_validate(raw))  # resumes from step 2 on a new pair of ranks
        nodes = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes()}
    finally:
        ray.shutdown()
        cluster.shutdown()
    for ranks in seen:
        by_rank = {r["rank"]: r for r in ranks}
        assert by_rank[0]["node"] != by_rank[1]["node"]  # one rank per node
        assert by_rank[0]["master"] == by_rank[1]["master"]  # both meet ...
        assert by_rank[0]["master"][0] == nodes[by_rank[0]["node"]]  # ... at rank 0's node
        assert all(r["device"] == "cpu" for r in ranks)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and [r["weight_version"] for r in rows] == [1, 2, 3]
    assert all(r["batch/samples_trained"] == 16 and r["tokens"] > 0 for r in rows)
    assert final.name == "step_000003" and (final / "hf" / "model.safetensors").exists()
    shards = sorted(p.name for p in (final / "deepspeed" / "state").iterdir() if "optim" in p.name)
    assert len(shards) == 2  # one optimizer shard per rank
