"""Bad input gets a clear error before any compute is spent, and nothing is written."""

import json
import subprocess
import sys

import pytest
import yaml

from rlsys.core.data import DataError, PromptStream, load_prompts


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "rlsys.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture()
def job(tmp_path, tiny_llama):
    data = tmp_path / "rows.jsonl"
    data.write_text(
        json.dumps({"prompt": "1+1?", "reward": "math", "answer": "2"})
        + "\n\n"
        + json.dumps({"prompt": "2+2?", "reward": "math", "solution": "4"})
        + "\n"
    )
    cfg = {
        "run": {"output_dir": str(tmp_path / "run")},
        "model": {"path": tiny_llama},
        "data": {"path": str(data)},
        "cluster": {"type": "inline"},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def test_row_missing_its_reward_column_names_file_row_and_column(job):
    res = run_cli("train", "cfg.yaml", cwd=job)
    assert res.returncode == 2
    assert f"{job / 'rows.jsonl'} line 3, field 'answer'" in res.stderr  # line 3: blank lines count
    assert "missing; reward 'math' needs it" in res.stderr
    assert not (job / "run").exists()  # failed before anything was written


def test_invalid_config_value_and_unknown_key(job):
    res = run_cli("train", "cfg.yaml", "rollout.max_new_tokens=0", cwd=job)
    assert res.returncode == 2 and "rollout.max_new_tokens" in res.stderr and "cfg.yaml" in res.stderr
    res = run_cli("train", "cfg.yaml", "learner.learning_rate=1e-5", cwd=job)
    assert res.returncode == 2 and "unknown key 'learner.learning_rate'" in res.stderr


def test_model_path_that_does_not_exist(job):
    res = run_cli("train", "cfg.yaml", "model.path=/no/such/model", cwd=job)
    assert res.returncode == 2 and "/no/such/model" in res.stderr and "does not exist" in res.stderr


def test_data_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "reward": "math", "answer": "1"}\n{"prompt": \n')
    with pytest.raises(DataError, match=r"bad.jsonl line 2: not valid JSON"):
        load_prompts(bad, "prompt")
    bad.write_text(json.dumps({"prompt": "", "reward": "math", "answer": "1"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl line 1, field 'prompt': must be a non-empty string"):
        load_prompts(bad, "prompt")
    bad.write_text(json.dumps({"prompt": "x", "reward": "no_such_reward"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl line 1, field 'reward': unknown reward 'no_such_reward'"):
        load_prompts(bad, "prompt")
    bad.write_text(json.dumps({"prompt": "x"}) + "\n")
    with pytest.raises(DataError, match="no rewards.default"):
        load_prompts(bad, "prompt")


def test_default_reward_and_stream_resumes(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"p{i}", "answer": str(i)}) + "\n" for i in range(5)))
    rows = load_prompts(path, "prompt", default_reward="exact_match")
    assert all(r["reward"] == "exact_match" for r in rows)
    a = PromptStream(rows, seed=3)
    first = [r["prompt"] for r in a.next_batch(7)]
    assert sorted(first[:5]) == [f"p{i}" for i in range(5)]  # an epoch is a permutation
    b = PromptStream(rows, seed=3)
    b.position = 4
    assert [r["prompt"] for r in b.next_batch(3)] == first[4:]


def test_curate_names_the_bad_row_and_the_bad_key_before_any_model_loads(job, tiny_llama):
    cfg = {
        "run": {"output_dir": str(job / "curated")},
        "model": {"path": tiny_llama},
        "sources": [{"path": str(job / "rows.jsonl")}],
    }
    (job / "curate.yaml").write_text(yaml.safe_dump(cfg))
    res = run_cli("curate", "curate.yaml", cwd=job)
    assert res.returncode == 2 and f"{job / 'rows.jsonl'} line 3, field 'answer'" in res.stderr
    res = run_cli("curate", "curate.yaml", "quota.math=-1", cwd=job)
    assert res.returncode == 2 and "quota shares must be >= 0" in res.stderr
    res = run_cli("curate", "curate.yaml", "filters.dedup=exact", cwd=job)
    assert res.returncode == 2 and "unknown key 'filters.dedup'" in res.stderr
    assert not (job / "curated").exists()
