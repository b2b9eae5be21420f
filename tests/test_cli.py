"""The console script: tiny-model and rewards list (train/submit are covered end to end elsewhere)."""

import json
import subprocess
import sys


def rlsys(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "rlsys.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_tiny_model_writes_a_loadable_model(tmp_path):
    res = rlsys("tiny-model", str(tmp_path / "m"), "--arch", "qwen2", "--layers", "1")
    assert res.returncode == 0, res.stderr
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["num_hidden_layers"] == 1 and config["head_dim"] >= 32
    assert (tmp_path / "m" / "tokenizer.json").exists() and (tmp_path / "m" / "chat_template.jinja").exists()
    bad = rlsys("tiny-model", str(tmp_path / "x"), "--arch", "mamba")
    assert bad.returncode == 2 and "expected one of" in bad.stderr


def test_rewards_list_names_columns():
    res = rlsys("rewards", "list")
    assert res.returncode == 0, res.stderr
    for name in ("math", "exact_match", "instructions", "chrf", "comet_qe"):
        assert name in res.stdout
