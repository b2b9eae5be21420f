"""Start-up paths: what an engine start leaves behind for the next run.

vLLM inspects a model class in a Python subprocess unless its cache (`VLLM_CACHE_ROOT`, by
default ~/.cache/vllm) already knows the architecture (8 CPU-s, 18-31 s under load on 2
cores). An rlsys run must use that persistent cache, not a fresh folder per process, or every
run pays the probe again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_rollout_engine_fills_the_users_vllm_cache(tiny_llama, tmp_path):
    script = textwrap.dedent(f"""
        from actors.rollout import RolloutWorker
        from rlsys.core.config import RolloutConfig

        worker = RolloutWorker({tiny_llama!r}, RolloutConfig(max_model_len=128), dtype="float32")
        worker.shutdown()
    """)
    env = {k: v for k, v in os.environ.items() if k != "VLLM_CACHE_ROOT"}
    env.update(PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    infos = list((tmp_path / "cache" / "vllm" / "modelinfos").glob("*LlamaForCausalLM*.json"))
    assert infos, "the engine did not record the architecture in the user's vLLM cache: the next run probes again"
