"""Evaluation: scoring on hand-made outputs with known results, then real greedy runs.

Scoring is tested without a model (known chrF, accuracy and constraint counts). Generation is
tested for real on a tiny random model: transformers greedy end to end through `rlsys eval`,
and vLLM greedy giving the same text as transformers greedy.
"""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rlsys.core.config import ConfigError, EvalConfig, validate
from rlsys.core.data import DataError
from rlsys.evaluate import evaluate, generate, load_sets, markdown_table, score
from rlsys.toy.world import write_toy_world

CHRF_EPS = 1e-6


def _rows(tmp_path, name, rows):
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_translation_chrf_is_sacrebleu_corpus_chrf():
    from sacrebleu import corpus_chrf

    rows = [
        {"reference": "the cat sleeps.", "src_lang": "qaa", "tgt_lang": "en"},
        {"reference": "go loro metin.", "src_lang": "en", "tgt_lang": "qaa"},
        {"reference": ["a dog runs.", "the dog runs."], "src_lang": "qaa", "tgt_lang": "en"},
    ]
    perfect = score("translation", rows, ["the cat sleeps.", "go loro metin.", "the dog runs."]).metrics
    assert perfect["chrf"] == pytest.approx(100.0) and perfect["rows"] == 3
    assert perfect["chrf/en-qaa"] == pytest.approx(100.0) and perfect["chrf/qaa-en"] == pytest.approx(100.0)
    outputs = ["the cat runs.", "go loro", "a bird runs."]
    got = score("translation", rows, outputs)
    expected = corpus_chrf(outputs, [["the cat sleeps.", "go loro metin.", "a dog runs."],
                                     [None, None, "the dog runs."]]).score
    assert 0 < got.metrics["chrf"] < 100 and abs(got.metrics["chrf"] - expected) < CHRF_EPS
    assert len(got.per_row) == 3 and all(0 <= r["chrf"] <= 100 for r in got.per_row)
    assert score("translation", rows, ["", "", ""]).metrics["chrf"] == 0.0


def test_math_accuracy_uses_the_math_reward():
    rows = [{"answer": "7"}, {"answer": "3"}, {"answer": "5"}, {"answer": "1/2"}]
    outputs = ["\\boxed{7}", "so the answer is $3$", "\\boxed{4}", "no idea"]
    result = score("math", rows, outputs)
    assert result.metrics == {"accuracy": 0.5, "rows": 4.0, "unscored": 0.0}
    assert [r["score"] for r in result.per_row] == [1.0, 1.0, 0.0, 0.0]


def test_math_rows_the_reward_cannot_judge_are_unscored_not_zero():
    result = score("math", [{"answer": "7"}, {"answer": "   "}], ["\\boxed{7}", "\\boxed{7}"])
    assert result.metrics["accuracy"] == 1.0 and result.metrics["unscored"] == 1.0
    assert result.per_row[1]["status"] == "error"


def test_instruction_accuracy_counts_constraints_and_prompts():
    rows = [
        {"constraints": [{"type": "keywords:existence", "keywords": ["dog"]}, {"type": "change_case:english_capital"}]},
        {"constraints": [{"type": "keywords:existence", "keywords": ["cat"]},
                         {"type": "startend:end_checker", "end_phrase": "done"}]},
    ]
    result = score("instructions", rows, ["THE DOG RUNS QUICKLY.", "the cat sleeps."])
    assert result.metrics == {"constraint_accuracy": 0.75, "prompt_accuracy": 0.5, "rows": 2.0}
    assert result.per_row == [{"passed": [True, True]}, {"passed": [True, False]}]
    loose = score("instructions", rows[1:], ["the cat sleeps. done\n**"], loose=True)
    assert loose.metrics["constraint_accuracy"] == 1.0


def test_bad_rows_and_settings_name_the_place(tmp_path):
    with pytest.raises(DataError, match=r"bad\.jsonl line 2, field 'answer': a math eval row needs it"):
        load_sets(EvalConfig(data={"math": _rows(tmp_path, "bad", [{"prompt": "1+1?", "answer": "2"}, {"prompt": "2+2?"}])}))
    with pytest.raises(DataError, match=r"c\.jsonl line 1, field 'constraints': .*no_such"):
        score("instructions", [{"constraints": [{"type": "no_such:check"}]}], ["x"], where=["c.jsonl line 1"])
    with pytest.raises(ConfigError, match="the task must be one of"):
        validate(EvalConfig, {"data": {"poetry": "p.jsonl"}}, "test")
    with pytest.raises(ConfigError, match="unknown key 'temperature'"):
        validate(EvalConfig, {"data": {"math": "m.jsonl"}, "temperature": 0.5}, "test")


def test_markdown_table_has_one_column_per_model():
    table = markdown_table({"base": {"math/accuracy": 0.25, "math/rows": 4.0},
                            "sft": {"math/accuracy": 0.5, "math/rows": 4.0, "translation/chrf": 41.234}})
    lines = table.splitlines()
    assert lines[0] == "| metric | base | sft |"
    assert "| math/accuracy | 0.250 | 0.500 |" in lines and "| math/rows | 4 | 4 |" in lines
    assert "| translation/chrf |  | 41.23 |" in lines


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    write_toy_world(out, seed=0)
    return out


def test_rlsys_eval_end_to_end_with_hf(tiny_llama, toy, tmp_path):
    from rlsys.cli import app

    out = tmp_path / "report"
    args = ["eval", tiny_llama, "--data", f"translation={toy / 'eval_translation.jsonl'}",
            "--data", f"math={toy / 'eval_math.jsonl'}", "--data", f"instructions={toy / 'eval_instructions.jsonl'}",
            "--limit", "4", "--max-new-tokens", "12", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "eval.json").read_text())
    metrics = report["metrics"]
    assert 0 <= metrics["translation/chrf"] <= 100
    assert 0 <= metrics["math/accuracy"] <= 1 and 0 <= metrics["instructions/constraint_accuracy"] <= 1
    assert metrics["translation/rows"] == metrics["math/rows"] == metrics["instructions/rows"] == 4
    assert report["config"]["backend"] == "hf"
    assert "| translation/chrf |" in (out / "eval.md").read_text() and "| math/accuracy |" in result.stdout
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 12 and all(isinstance(s["output"], str) for s in samples)


def test_rlsys_eval_rejects_bad_options_naming_the_problem(tiny_llama, toy):
    from rlsys.cli import app

    bad = CliRunner().invoke(app, ["eval", tiny_llama, "--data", "math"])
    assert bad.exit_code == 2 and "TASK=PATH" in bad.output
    unknown = CliRunner().invoke(app, ["eval", tiny_llama, "--data", "poetry=x.jsonl"])
    assert unknown.exit_code == 2 and "the task must be one of" in unknown.output
    long = CliRunner().invoke(app, ["eval", tiny_llama, "--data", f"math={toy / 'eval_math.jsonl'}", "--max-model-len", "16"])
    assert long.exit_code == 2 and "eval_math.jsonl line 1: the prompt has" in long.output


def test_vllm_greedy_matches_transformers_greedy(tiny_llama, toy):
    cfg = EvalConfig(data={"translation": str(toy / "eval_translation.jsonl")}, limit=4, max_new_tokens=12,
                     max_model_len=256, batch_size=3)  # 3: one batch has left padding
    prompts = [row["prompt"] for s in load_sets(cfg) for row in s.rows] + ["What is 2+2?"]
    hf = generate(tiny_llama, prompts, cfg)
    vllm = generate(tiny_llama, prompts, cfg.model_copy(update={"backend": "vllm"}))
    assert hf == vllm and any(hf)
    metrics = evaluate(tiny_llama, cfg.model_copy(update={"limit": 2}))
    assert set(metrics) == {"translation/chrf", "translation/chrf/en-qaa", "translation/chrf/qaa-en", "translation/rows"}
