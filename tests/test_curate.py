"""`rlsys curate` for real: the vLLM engine on tiny models, the registered rewards (chrF, math-verify,
instruction constraints), outputs that the sft / wpo stages load, a run killed with SIGKILL and
resumed, the curate stage inside a pipeline, Ray rollout actors, and COMET QE through the QE server.

The models are random, so what is asserted is what curation promises whatever the answers are:
the SFT row is the best passing answer of its prompt, pairs respect the margin and carry the
sampling policy's log-probabilities, every prompt was answered n times by every model, and a
resumed run redoes nothing that was finished.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rlsys.core.pipeline_config import CurateConfig
from rlsys.curate import CurateError, run_curation
from rlsys.toy.world import write_toy_world

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    write_toy_world(out, seed=0)
    return out


@pytest.fixture(scope="module")
def second_model(tmp_path_factory):
    """Another system (a tiny random qwen2 with its own tokenizer) for pairs across models."""
    from rlsys.toy.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny2") / "qwen2", "qwen2"))


def config(toy, out, model, **extra) -> CurateConfig:
    data = {
        "run": {"output_dir": str(out)},
        "model": {"path": model},
        "sources": [{"path": str(toy / "curate.jsonl"), "limit": 24}],
        "rollout": {"backend": "vllm", "samples_per_prompt": 3, "max_new_tokens": 12, "max_model_len": 256},
        "shard_prompts": 8,
        "sft_min_score": 0.0,
        "pair_min_margin": 0.01,
        # random models rarely stop within 12 tokens: keep cut answers, check languages elsewhere
        "filters": {"drop_truncated": False, "language": False},
        **extra,
    }
    return CurateConfig.model_validate(data)


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line]


def shard_candidates(out):
    return [c for path in sorted(Path(out, "shards").rglob("*.jsonl")) for c in read_jsonl(path)]


def test_best_of_n_with_two_models_on_vllm_gives_loadable_sft_rows_and_pairs(toy, tiny_llama, second_model, tmp_path):
    from transformers import AutoTokenizer

    from pretrain_sft.formatting import format_chat, format_preference

    cfg = config(toy, tmp_path / "c", tiny_llama, models=[{}, {"path": second_model, "name": "qwen"}])
    result = run_curation(cfg, tmp_path / "c", tiny_llama)
    candidates = shard_candidates(tmp_path / "c")
    prompts = int(result["metrics"]["curate/prompts"])
    assert 20 <= prompts <= 24 and len(candidates) == prompts * 3 * 2  # n answers from each model
    per_prompt: dict[int, list[dict]] = {}
    for c in candidates:
        per_prompt.setdefault(c["prompt"], []).append(c)
        assert c["status"] in ("ok", "error", "timeout") and (c["score"] is None) == (c["status"] != "ok")
        assert c["tokens"] >= 1 and c["logprob"] <= 0
    assert all(sorted(x["model"] for x in g) == ["policy"] * 3 + ["qwen"] * 3 for g in per_prompt.values())
    sft, pairs = read_jsonl(result["sft"]), read_jsonl(result["pairs"])
    assert sft and pairs
    by_text: dict[tuple[int, str], list[dict]] = {}  # two samples can be the same text
    for c in candidates:
        by_text.setdefault((c["prompt"], c["completion"]), []).append(c)
    prompt_of = {json.dumps(p["row"]["prompt"]): i for i, p in enumerate(read_prompts_of(cfg))}
    for row in sft:
        i = prompt_of[json.dumps(row["messages"][:-1])]
        best = by_text[(i, row["messages"][-1]["content"])]
        eligible = [c["score"] for c in per_prompt[i] if c["score"] is not None and c["completion"].strip()]
        assert row["score"] == best[0]["score"] == max(eligible)
    for pair in pairs:
        assert pair["score_chosen"] - pair["score_rejected"] >= 0.01 and pair["chosen"] != pair["rejected"]
        i = prompt_of[json.dumps(pair["prompt"])]
        assert pair["chosen_logprob"] in [c["logprob"] for c in by_text[(i, pair["chosen"])]]
        assert pair["rejected_tokens"] in [c["tokens"] for c in by_text[(i, pair["rejected"])]]
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    for row in sft:  # what an sft stage reads
        format_chat(row, tokenizer)
    for pair in pairs:  # what a dpo / wpo stage reads
        format_preference(pair, tokenizer)
    report = json.loads(Path(tmp_path / "c" / "report.json").read_text())
    assert report["outputs"]["sft_rows"] == len(sft) and set(report["models"]) == {"policy", "qwen"}
    assert sum(d["candidates"] for d in report["domains"].values()) == len(candidates)
    assert {"translation", "math", "instructions"} <= set(report["domains"])
    md = Path(result["report"]).read_text()
    assert "# Curation report" in md and "| policy |" in md and "best answer per prompt" in md


def read_prompts_of(cfg):
    from rlsys.curate import read_prompts

    return read_prompts(cfg)[0]


def test_a_rerun_with_other_settings_is_refused_and_a_finished_run_is_not_redone(toy, tiny_llama, tmp_path):
    cfg = config(
        toy,
        tmp_path / "c",
        tiny_llama,
        rollout={"backend": "hf", "samples_per_prompt": 2, "max_new_tokens": 6, "max_model_len": 256},
        sources=[{"path": str(toy / "curate.jsonl"), "limit": 8}],
    )
    run_curation(cfg, tmp_path / "c", tiny_llama)
    stamps = {p: p.stat().st_mtime_ns for p in Path(tmp_path / "c", "shards").rglob("*")}
    run_curation(cfg, tmp_path / "c", tiny_llama)  # every shard is done: nothing is generated again
    assert {p: p.stat().st_mtime_ns for p in Path(tmp_path / "c", "shards").rglob("*")} == stamps
    changed = cfg.model_copy(update={"pair_min_margin": 0.5})
    with pytest.raises(CurateError, match="holds a curation run with other config"):
        run_curation(changed, tmp_path / "c", tiny_llama)


def test_a_killed_curation_run_resumes_from_its_finished_shards(toy, tiny_llama, tmp_path):
    """SIGKILL after the first finished shard: the rerun keeps the finished shards byte for byte,
    generates only the others, and every prompt ends up answered exactly n times."""
    out = tmp_path / "c"
    path = tmp_path / "curate.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "run": {"output_dir": str(out)},
                "model": {"path": tiny_llama},
                "sources": [{"path": str(toy / "curate.jsonl"), "limit": 36}],
                "rollout": {
                    "backend": "hf",
                    "samples_per_prompt": 2,
                    "max_new_tokens": 24,
                    "min_new_tokens": 24,
                    "max_model_len": 256,
                    "hf_batch_size": 2,
                },
                "shard_prompts": 3,
                "sft_min_score": 0.0,
                "filters": {"drop_truncated": False},
            }
        )
    )
    cmd = [sys.executable, "-c", "from rlsys.cli import main; main()", "curate", str(path)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 600
        while not list(out.glob("shards/policy/*.done")):
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = {p.name: p.with_suffix(".jsonl").read_bytes() for p in out.glob("shards/policy/*.done")}
    assert 1 <= len(done) < 12 and not (out / "sft.jsonl").exists()
    first = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    for name, content in done.items():  # finished shards were read back, not generated again
        assert (out / "shards" / "policy" / name).with_suffix(".jsonl").read_bytes() == content
    markers = sorted(p.name for p in out.glob("shards/policy/*.done"))
    assert len(markers) == 12 and not list(out.rglob("*.tmp"))
    counts: dict[int, int] = {}
    for c in shard_candidates(out):
        counts[c["prompt"]] = counts.get(c["prompt"], 0) + 1
    plan = json.loads((out / "plan.json").read_text())
    assert sorted(counts) == list(range(plan["prompts"])) and set(counts.values()) == {2}
    assert (out / "sft.jsonl").exists() and (out / "report.md").exists()


def test_curate_stage_in_a_pipeline_feeds_the_sft_and_wpo_stages(toy, tiny_llama, tmp_path):
    from rlsys.core.config import validate
    from rlsys.core.pipeline_config import PipelineConfig
    from rlsys.pipeline import run_pipeline

    run = tmp_path / "run"
    curated = run / "stages" / "1_curate"
    learner = {"lr": 1e-3, "micro_batch_tokens": 512}
    stages = [
        {
            "type": "curate",
            "sources": [{"path": str(toy / "curate.jsonl"), "limit": 16}],
            "rollout": {"backend": "vllm", "samples_per_prompt": 3, "max_new_tokens": 10, "max_model_len": 256},
            "sft_min_score": 0.0,
            "pair_min_margin": 0.01,
            "filters": {"drop_truncated": False},
        },
        {
            "type": "sft",
            "sources": [
                {"path": str(toy / "sft.jsonl"), "name": "toy"},
                {"path": str(curated / "sft.jsonl"), "name": "curated"},
            ],
            "max_tokens": 128,
            "examples_per_step": 4,
            "steps": 2,
            "learner": learner,
        },
        {
            "type": "wpo",
            "sources": [{"path": str(curated / "pairs.jsonl")}],
            "max_tokens": 128,
            "examples_per_step": 4,
            "steps": 1,
            "learner": {**learner, "micro_batch_tokens": 512},
        },
    ]
    cfg = validate(
        PipelineConfig,
        {"run": {"name": "c", "output_dir": str(run)}, "model": {"path": tiny_llama}, "stages": stages},
        "test",
    )
    summary = run_pipeline(cfg)
    done = json.loads((curated / "DONE").read_text())
    assert done["model_dir"] == tiny_llama and done["metrics"]["curate/sft_rows"] > 0
    sft_done = json.loads((run / "stages" / "2_sft" / "DONE").read_text())
    assert (
        sft_done["input_model"] == tiny_llama
        and sft_done["data"]["curated"]["rows"] == done["metrics"]["curate/sft_rows"]
    )
    assert (
        json.loads((run / "stages" / "3_wpo" / "DONE").read_text())["data"]["pairs"]["rows"]
        == (done["metrics"]["curate/pairs"])
    )
    assert [r["type"] for r in summary["stages"]] == ["base", "curate", "sft", "wpo"]
    assert "| 1_curate | curate |" in (run / "pipeline_summary.md").read_text()


@pytest.mark.slow
def test_curation_on_ray_rollout_actors_with_comet_qe_from_the_qe_server(toy, tiny_llama, tmp_path, tiny_comet):  # noqa: F811
    """The RL stage's placement (a rollout actor, a reward actor) and a CometKiwi reward served by
    the QE environment: translation rows are ranked by `comet_qe`."""
    import ray

    rows = [{**r, "reward": "comet_qe"} for r in read_jsonl(toy / "curate.jsonl") if r.get("reward") == "chrf"][:6]
    source = tmp_path / "qe.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config(
        toy,
        tmp_path / "c",
        tiny_llama,
        sources=[{"path": str(source)}],
        cluster={"type": "ray", "num_cpus": 2},
        qe={"qe_model": str(tiny_comet["qe"])},
    )
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(Path("/tmp") / f"r{os.getpid()}"))
    try:
        result = run_curation(cfg, tmp_path / "c", tiny_llama)
    finally:
        ray.shutdown()
    candidates = shard_candidates(tmp_path / "c")
    assert len(candidates) == 6 * 3 and all(c["status"] == "ok" for c in candidates), candidates[0]
    assert len({round(c["score"], 6) for c in candidates}) > 1  # a real model's scores, not a constant
    assert result["metrics"]["curate/sft_rows"] > 0


from tests.test_translation import qe_python, tiny_comet  # noqa: E402,F401  (session fixtures)


def test_a_shard_generated_again_draws_the_answers_of_the_uninterrupted_run(toy, tiny_llama, tmp_path):
    """A killed run regenerates its unfinished shard in a fresh engine, whose own RNG has not seen
    the shards before it: per-prompt sampling seeds make the regenerated answers the same ones."""
    cfg = config(
        toy,
        tmp_path / "c",
        tiny_llama,
        rollout={"backend": "hf", "samples_per_prompt": 2, "max_new_tokens": 8, "max_model_len": 256},
        sources=[{"path": str(toy / "curate.jsonl"), "limit": 8}],
        shard_prompts=4,
    )
    run_curation(cfg, tmp_path / "c", tiny_llama)
    shard = tmp_path / "c" / "shards" / "policy" / "shard_00001.jsonl"
    straight = shard.read_bytes()
    shard.unlink()
    shard.with_suffix(".done").unlink()  # as if the run had been killed while writing it
    run_curation(cfg, tmp_path / "c", tiny_llama)
    assert shard.read_bytes() == straight
