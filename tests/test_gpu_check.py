"""benchmarks/gpu_check.py: what it imports works without Ray, vLLM or DeepSpeed (a bare CUDA
machine has only torch and transformers), its `--device cpu --tiny` mode trains and passes its
own checks, and on a CUDA machine (`gpu` marker) the learner's varlen attention matches eager
attention and the whole check passes.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "benchmarks" / "gpu_check.py"


def python(code: str, blocked: tuple[str, ...], timeout: int = 900) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter where importing any of `blocked` fails."""
    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in blocked)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", prelude + code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_gpu_check_imports_nothing_of_ray_vllm_or_deepspeed():
    code = (
        "import runpy\n"
        f"runpy.run_path({str(CHECK)!r}, run_name='gpu_check')\n"
        "import actors.learner, actors.rollout, actors.strategy, rlsys.core.batch, rlsys.toy.tiny\n"
        "print('IMPORTED', sorted(m for m in ('ray', 'vllm', 'deepspeed') if sys.modules.get(m)))\n"
    )
    res = python(code, ("ray", "vllm", "deepspeed"))
    assert "IMPORTED []" in res.stdout, res.stderr[-3000:]


@pytest.mark.slow
def test_tiny_cpu_mode_trains_every_variant_without_ray_or_vllm(tmp_path):
    out = tmp_path / "check.json"
    code = (
        "import runpy\n"
        f"sys.argv = ['gpu_check', '--device', 'cpu', '--tiny', '--out', {str(out)!r}]\n"
        f"runpy.run_path({str(CHECK)!r}, run_name='__main__')\n"
    )
    res = python(code, ("ray", "vllm"))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    results = {r["variant"]: r for r in json.loads(out.read_text())["results"]}
    assert sorted(results) == ["autocast", "bf16", "deepspeed"]
    for name, r in results.items():
        assert not r.get("skipped"), name
        assert len(r["steps"]) == 2 and r["weights_changed"] and r["rollout_has_learner_weights"], name
        assert r["tokens_per_s"] > 0 and r["mfu"] is None  # no peak for a CPU
    assert results["deepspeed"]["learner_dtype"] == "bfloat16"  # bf16 weights, fp32 master in DeepSpeed


def test_a_missing_deepspeed_skips_its_variant_and_says_so(tmp_path):
    code = (
        "import runpy\n"
        f"sys.argv = ['gpu_check', '--device', 'cpu', '--tiny', '--variants', 'deepspeed', '--out', {str(tmp_path / 'o.json')!r}]\n"
        f"runpy.run_path({str(CHECK)!r}, run_name='__main__')\n"
    )
    res = python(code, ("ray", "vllm", "deepspeed"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "skipped: DeepSpeed is not installed" in res.stdout


@pytest.mark.gpu
def test_varlen_attention_on_cuda_matches_eager_per_sequence(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from actors.learner import Learner
    from rlsys.core.config import LearnerConfig
    from rlsys.core.types import TrainSample
    from rlsys.toy.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "qwen2", "qwen2", hidden_size=256, num_heads=8, num_kv_heads=2, head_dim=32)
    learner = Learner(str(path), LearnerConfig(micro_batch_tokens=4096), dtype="bfloat16")
    assert learner.device.type == "cuda" and learner.varlen and not learner.share_prompts
    g = torch.Generator().manual_seed(0)
    batch = [
        TrainSample(
            torch.randint(5, 900, (3 + i,), generator=g).tolist(),
            torch.randint(5, 900, (5 + 7 * i,), generator=g).tolist(),
            1.0,
            [0.0] * (5 + 7 * i),
        )
        for i in range(6)
    ]
    eager = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, attn_implementation="eager").cuda().eval()
    for s, lp in zip(batch, learner.compute_logprobs(batch)):
        ids = torch.tensor([s.prompt_ids + s.completion_ids], device="cuda")
        with torch.no_grad():
            logits = eager(ids).logits[0, len(s.prompt_ids) - 1 : -1].float()
        ref = torch.log_softmax(logits, -1).gather(-1, torch.tensor(s.completion_ids, device="cuda")[:, None])[:, 0]
        torch.testing.assert_close(torch.tensor(lp), ref.cpu(), atol=5e-2, rtol=5e-2)
    metrics = learner.train_step(batch, sum(len(s.completion_ids) for s in batch), len(batch))
    assert metrics["grad_norm"] > 0
    state = learner.strategy.optimizer.state
    assert all(v.device.type == "cuda" for st in state.values() for v in st.values() if torch.is_tensor(v) and v.dim())


@pytest.mark.gpu
def test_gpu_check_passes_on_cuda(tmp_path):
    out = tmp_path / "check.json"
    res = subprocess.run(
        [sys.executable, str(CHECK), "--steps", "1", "--timed-steps", "2", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for r in json.loads(out.read_text())["results"]:
        assert r.get("skipped") or (r["weights_changed"] and r["tokens_per_s"] > 0)
