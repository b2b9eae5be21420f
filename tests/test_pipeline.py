"""The stage pipeline: checkpoints handed from stage to stage (real DeepSpeed ZeRO-2 stages in one
process), resume at stage granularity, data checked before the first stage trains, the CLI with
per-stage overrides, the evaluation hook, and the grpo stage through the real RL driver.

Evaluation is disabled (`eval: null`) except in the evaluation test, which runs the real
evaluator (rlsys/evaluate.py, hf backend) on a three-row translation set.
"""

import json

import pytest
import yaml

from pretrain_sft.data import DataError
from rlsys.core.config import validate
from rlsys.core.pipeline_config import PipelineConfig
from rlsys.pipeline import load_pipeline_config, run_pipeline
from tests.test_stage_modes import CHAT, stage_config, write_data, write_jsonl


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("pipeline-data"))


def pipeline(tmp_path, model, stages, **extra) -> PipelineConfig:
    return validate(
        PipelineConfig,
        {
            "run": {"name": "t", "output_dir": str(tmp_path / "run")},
            "model": {"path": model},
            "stages": stages,
            **extra,
        },
        "test",
    )


def done(tmp_path, name):
    return json.loads((tmp_path / "run" / "stages" / name / "DONE").read_text())


def test_stages_hand_their_checkpoints_on_and_a_rerun_skips_completed_stages(data, tiny_llama, tmp_path):
    ds = {"strategy": "deepspeed", "zero_stage": 2}
    cfg = pipeline(tmp_path, tiny_llama, [stage_config(m, data, **ds) for m in ("cpt", "sft", "wpo")])
    summary = run_pipeline(cfg)
    names = ["1_cpt", "2_sft", "3_wpo"]
    records = [done(tmp_path, n) for n in names]
    assert records[0]["input_model"] == tiny_llama
    for prev, rec in zip(records, records[1:]):
        assert rec["input_model"] == prev["model_dir"]
    for name, rec in zip(names, records):
        assert rec["model_dir"] == str(tmp_path / "run" / "stages" / name / "final" / "hf")
        assert rec["steps"] == 2 and rec["metrics"]["loss"] > 0 and "val/loss" in rec["metrics"]
    assert [r["stage"] for r in summary["stages"]] == ["0_base", *names]
    md = (tmp_path / "run" / "pipeline_summary.md").read_text()
    assert "| 3_wpo | wpo |" in md and json.loads((tmp_path / "run" / "pipeline_summary.json").read_text())

    # rerun: nothing trains again; with stage 2's DONE gone stages 2 and 3 run again (3 would
    # otherwise rest on a stage-2 model that no longer exists), stage 1 does not
    def stamps():
        return [(tmp_path / "run" / "stages" / n / "DONE").stat().st_mtime_ns for n in names]

    before = stamps()
    run_pipeline(cfg)
    assert stamps() == before
    (tmp_path / "run" / "stages" / "2_sft" / "DONE").unlink()
    run_pipeline(cfg)
    after = stamps()
    assert after[0] == before[0] and after[1] != before[1] and after[2] != before[2]
    for name in names[1:]:  # clean folders: no metrics left over from the first attempt
        assert len((tmp_path / "run" / "stages" / name / "metrics.jsonl").read_text().splitlines()) == 2

    changed = cfg.model_copy(deep=True)
    changed.stages[1].learner.lr = 5e-4
    with pytest.raises(ValueError, match="2_sft was completed with a different setup .*learner"):
        run_pipeline(changed)


def test_bad_data_in_a_later_stage_fails_before_the_first_stage_trains(data, tiny_llama, tmp_path):
    bad = list(CHAT)
    bad[4] = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": 7}]}
    sft = {**stage_config("sft", data), "sources": [{"path": write_jsonl(tmp_path / "sft.jsonl", bad)}]}
    cfg = pipeline(tmp_path, tiny_llama, [stage_config("cpt", data), sft])
    with pytest.raises(DataError, match=r"sft\.jsonl line 5, field 'messages\[1\]\.content': must be a string"):
        run_pipeline(cfg)
    assert not (tmp_path / "run" / "stages").exists()


@pytest.mark.parametrize(
    "stage, message",
    [
        ({"type": "cpt", "sources": [{"path": "a.jsonl"}], "beta": 0.1}, "unknown key 'stages.0.cpt.beta'"),
        ({"type": "cpt", "sources": [{"path": "a.jsonl", "kind": "chat"}]}, "kind 'chat' does not fit a cpt stage"),
        ({"type": "wpo", "sources": [{"path": "p.jsonl"}], "max_tokens": 4096}, r"at least 2 \* max_tokens"),
        ({"type": "sft", "sources": [{"path": "a.jsonl"}, {"path": "b/a.jsonl"}]}, "distinct `name`"),
        (
            {"type": "grpo", "data": {"path": "rl.jsonl"}, "rollout": {"samples_per_prompt": 1}},
            "samples_per_prompt >= 2",
        ),
        ({"type": "ppo"}, "does not match any of the expected tags"),
    ],
)
def test_bad_stage_configs_are_refused_at_load(stage, message):
    from rlsys.core.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        validate(PipelineConfig, {"model": {"path": "m"}, "stages": [stage]}, "pipeline.yaml")


def test_cli_runs_a_pipeline_with_stage_overrides(data, tiny_llama, tmp_path):
    from typer.testing import CliRunner

    from rlsys.cli import app

    config = tmp_path / "pipeline.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "run": {"name": "cli", "output_dir": str(tmp_path / "run")},
                "model": {"path": tiny_llama},
                "stages": [stage_config("sft", data), stage_config("dpo", data)],
            }
        )
    )
    loaded = load_pipeline_config(config, ["stages.sft.steps=1", "stages.1.beta=0.2", "run.seed=3"])
    assert (loaded.stages[0].steps, loaded.stages[1].beta, loaded.run.seed) == (1, 0.2, 3)
    runner = CliRunner()
    bad = runner.invoke(app, ["pipeline", str(config), "stages.dpo.betta=0.2"])
    assert bad.exit_code == 2 and "stages.1.dpo.betta" in bad.output
    res = runner.invoke(app, ["pipeline", str(config), "stages.0.steps=1", "stages.dpo.steps=1"])
    assert res.exit_code == 0, res.output
    assert [done(tmp_path, n)["steps"] for n in ("1_sft", "2_dpo")] == [1, 1]
    assert "2_dpo" in (tmp_path / "run" / "pipeline_summary.md").read_text()


def test_the_base_and_every_stage_model_are_evaluated_once(data, tiny_llama, tmp_path):
    rows = [{"prompt": f"Translate to Portuguese: hello {i}", "reference": f"olá {i}"} for i in range(3)]
    eval_cfg = {
        "data": {"translation": write_jsonl(tmp_path / "flores.jsonl", rows)},
        "max_new_tokens": 4,
        "max_model_len": 128,
    }
    cfg = pipeline(tmp_path, tiny_llama, [{**stage_config("sft", data), "steps": 1}], eval=eval_cfg)
    summary = run_pipeline(cfg)
    assert [sorted(r["eval"]) for r in summary["stages"]] == [
        ["translation/bleu", "translation/chrf", "translation/rows"]
    ] * 2
    stages = tmp_path / "run" / "stages"
    for name, model in (("0_base", tiny_llama), ("1_sft", done(tmp_path, "1_sft")["model_dir"])):
        scores = json.loads((stages / name / "eval_scores.json").read_text())
        assert scores["model_dir"] == model and (stages / name / "eval" / "samples.jsonl").exists()
    assert "eval/translation/chrf" in (tmp_path / "run" / "pipeline_summary.md").read_text()
    stamp = (stages / "1_sft" / "eval_scores.json").stat().st_mtime_ns
    run_pipeline(cfg)  # kept with the stage: not evaluated again
    assert (stages / "1_sft" / "eval_scores.json").stat().st_mtime_ns == stamp


def test_grpo_stage_trains_with_the_rl_driver_from_the_previous_stage(data, tiny_llama, tmp_path):
    prompts = write_jsonl(tmp_path / "rl.jsonl", [{"prompt": f"Count to {i}."} for i in range(4)])
    grpo = {
        "type": "grpo",
        "name": "rl",
        "data": {"path": prompts},
        "cluster": {"type": "inline"},
        "rollout": {"backend": "hf", "samples_per_prompt": 2, "max_new_tokens": 6, "max_model_len": 64},
        "learner": {"lr": 1e-3, "micro_batch_tokens": 64},
        "rewards": {"default": "length_penalty", "settings": {"length_penalty": {"max_chars": 10}}},
        "train": {"steps": 1, "prompts_per_step": 2},
    }
    cfg = pipeline(tmp_path, tiny_llama, [{**stage_config("sft", data), "steps": 1}, grpo])
    run_pipeline(cfg)
    rl = done(tmp_path, "2_rl")
    assert rl["metrics"]["batch/samples_trained"] > 0  # the RL learner really took a step
    assert rl["input_model"] == done(tmp_path, "1_sft")["model_dir"]
    assert rl["model_dir"] == str(tmp_path / "run" / "stages" / "2_rl" / "checkpoints" / "step_000001" / "hf")
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(rl["model_dir"])
    assert (
        yaml.safe_load((tmp_path / "run" / "stages" / "2_rl" / "config.yaml").read_text())["model"]["path"]
        == (rl["input_model"])
    )


def test_summary_has_the_pareto_table_plot_and_flags_a_regressing_stage(tmp_path):
    """The summary places every evaluated model on translation vs general, marks the Pareto front,
    and flags a stage that lost more than the configured margin against the model it started from
    (a curate stage, which keeps its model, is not a point)."""
    from rich.console import Console

    from rlsys.pipeline import write_summary

    cfg = pipeline(
        tmp_path,
        "m",
        [{"type": "sft", "sources": [{"path": "a.jsonl"}]}],
        eval={
            "data": {"translation": "t.jsonl", "instructions": "i.jsonl"},
            "pareto": {"max_translation_drop": 0.02, "max_general_drop": 0.05},
        },
    )
    (tmp_path / "run").mkdir()

    def row(stage, kind, chrf=None, prompts=None):
        ev = {} if chrf is None else {"translation/chrf": chrf, "instructions/prompt_accuracy": prompts}
        return {"stage": stage, "type": kind, "model_dir": f"/m/{stage}", "metrics": {}, "eval": ev}

    rows = [
        row("0_base", "base", 5.0, 0.0),
        row("1_sft", "sft", 80.0, 0.40),
        row("2_curate", "curate"),
        row("3_wpo", "wpo", 81.0, 0.30),
        row("4_grpo", "grpo", 77.0, 0.70),
    ]
    console = Console(record=True, width=100)
    summary = write_summary(cfg, rows, console)
    pareto = {p["stage"]: p for p in summary["pareto"]}
    assert list(pareto) == ["0_base", "1_sft", "3_wpo", "4_grpo"]
    assert pareto["3_wpo"]["gate"] == ["general -0.100 (margin 0.05)"]
    assert pareto["4_grpo"]["gate"] == ["translation -0.040 (margin 0.02)"]
    assert [p["pareto_front"] for p in pareto.values()] == [False, True, True, True]
    md = (tmp_path / "run" / "pipeline_summary.md").read_text()
    assert "| 3_wpo | 0.81 | 0.3 | yes | general -0.100 (margin 0.05) |" in md
    assert "![translation vs general](pareto.png)" in md and (tmp_path / "run" / "pareto.png").stat().st_size > 1000
    assert "regression in stage 4_grpo: translation -0.040" in console.export_text()
