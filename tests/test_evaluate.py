"""Evaluation: scoring on hand-made outputs with known results, then real runs.

Scoring is tested without a model (known chrF / BLEU, accuracy, pass@k and constraint counts).
Generation is tested for real on a tiny random model through the rollout backends: transformers
greedy end to end through `rlsys eval`, vLLM greedy giving the same text as transformers greedy,
and sampled answers for pass@k. COMET, the judge and the report: tests/test_eval_report.py.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rlsys.core.config import ConfigError, validate
from rlsys.core.data import DataError
from rlsys.core.pipeline_config import EvalConfig
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
    expected = corpus_chrf(
        outputs, [["the cat sleeps.", "go loro metin.", "a dog runs."], [None, None, "the dog runs."]]
    ).score
    assert 0 < got.metrics["chrf"] < 100 and abs(got.metrics["chrf"] - expected) < CHRF_EPS
    from sacrebleu import corpus_bleu

    bleu = corpus_bleu(outputs, [["the cat sleeps.", "go loro metin.", "a dog runs."], [None, None, "the dog runs."]])
    assert got.metrics["bleu"] == pytest.approx(bleu.score) and perfect["bleu/en-qaa"] == pytest.approx(100.0)
    assert len(got.per_row) == 3 and all(0 <= r["chrf"] <= 100 and 0 <= r["bleu"] <= 100 for r in got.per_row)
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
        {
            "constraints": [
                {"type": "keywords:existence", "keywords": ["cat"]},
                {"type": "startend:end_checker", "end_phrase": "done"},
            ]
        },
    ]
    result = score("instructions", rows, ["THE DOG RUNS QUICKLY.", "the cat sleeps.\n**done**"])
    assert result.metrics == {
        "constraint_accuracy": 0.75,
        "prompt_accuracy": 0.5,
        "rows": 2.0,
        "constraint_accuracy_loose": 1.0,
        "prompt_accuracy_loose": 1.0,
    }
    assert result.per_row == [
        {"passed": [True, True], "passed_loose": [True, True]},
        {"passed": [True, False], "passed_loose": [True, True]},
    ]


def test_bad_rows_and_settings_name_the_place(tmp_path):
    with pytest.raises(DataError, match=r"bad\.jsonl line 2, field 'answer': a math eval row needs it"):
        load_sets(
            EvalConfig(data={"math": _rows(tmp_path, "bad", [{"prompt": "1+1?", "answer": "2"}, {"prompt": "2+2?"}])})
        )
    with pytest.raises(DataError, match=r"c\.jsonl line 1, field 'constraints': .*no_such"):
        score("instructions", [{"constraints": [{"type": "no_such:check"}]}], ["x"], where=["c.jsonl line 1"])
    with pytest.raises(ConfigError, match="the task must be one of"):
        validate(EvalConfig, {"data": {"poetry": "p.jsonl"}}, "test")
    with pytest.raises(ConfigError, match="unknown key 'temprature'"):
        validate(EvalConfig, {"data": {"math": "m.jsonl"}, "temprature": 0.5}, "test")
    with pytest.raises(ConfigError, match="pass@8 needs samples_per_prompt >= 8"):
        validate(EvalConfig, {"data": {"math": "m.jsonl"}, "samples_per_prompt": 4, "pass_k": [1, 8]}, "test")


def test_markdown_table_has_one_column_per_model():
    table = markdown_table(
        {
            "base": {"math/accuracy": 0.25, "math/rows": 4.0},
            "sft": {"math/accuracy": 0.5, "math/rows": 4.0, "translation/chrf": 41.234},
        }
    )
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
    args = [
        "eval",
        tiny_llama,
        "--data",
        f"translation={toy / 'eval_translation.jsonl'}",
        "--data",
        f"math={toy / 'eval_math.jsonl'}",
        "--data",
        f"instructions={toy / 'eval_instructions.jsonl'}",
        "--limit",
        "4",
        "--max-new-tokens",
        "12",
        "--out",
        str(out),
    ]
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
    long = CliRunner().invoke(
        app, ["eval", tiny_llama, "--data", f"math={toy / 'eval_math.jsonl'}", "--max-model-len", "16"]
    )
    assert long.exit_code == 2 and "eval_math.jsonl line 1: the prompt has" in long.output


def test_vllm_greedy_matches_transformers_greedy(tiny_llama, toy):
    cfg = EvalConfig(
        data={"translation": str(toy / "eval_translation.jsonl")},
        limit=4,
        max_new_tokens=12,
        max_model_len=256,
        batch_size=3,
    )  # 3: one batch has left padding
    prompts = [row["prompt"] for s in load_sets(cfg) for row in s.rows] + ["What is 2+2?"]
    hf = generate(tiny_llama, prompts, cfg)
    vllm = generate(tiny_llama, prompts, cfg.model_copy(update={"backend": "vllm"}))
    assert hf == vllm and any(hf)
    metrics = evaluate(tiny_llama, cfg.model_copy(update={"limit": 2}))
    assert set(metrics) == {
        "translation/chrf",
        "translation/chrf/en-qaa",
        "translation/chrf/qaa-en",
        "translation/rows",
        "translation/bleu",
        "translation/bleu/en-qaa",
        "translation/bleu/qaa-en",
    }


# ---------------------------------------------------------------- pass@k, IF-MT, code


def test_pass_at_k_is_the_unbiased_estimator():
    from itertools import combinations

    from rlsys.eval_metrics import pass_at_k

    for n, c, k in [(5, 2, 1), (5, 2, 3), (8, 1, 4), (4, 0, 2), (4, 4, 4), (10, 3, 10)]:
        draws = list(combinations([1] * c + [0] * (n - c), k))  # every k-subset of the n samples
        assert pass_at_k(n, c, k) == pytest.approx(sum(any(d) for d in draws) / len(draws))
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_math_pass_at_k_from_samples_and_unjudged_samples_left_out():
    rows = [{"answer": "7"}, {"answer": "3"}]
    samples = [["\\boxed{7}", "\\boxed{6}", "\\boxed{7}", "\\boxed{1}"], ["\\boxed{2}"] * 4]
    cfg = EvalConfig(data={"math": "unused.jsonl"}, samples_per_prompt=4, pass_k=[1, 2, 4])
    result = score("math", rows, ["\\boxed{7}", "\\boxed{2}"], samples=samples, cfg=cfg)
    m = result.metrics
    assert m["accuracy"] == 0.5 and m["samples_per_prompt"] == 4 and m["samples_unscored"] == 0
    assert m["pass@1"] == pytest.approx((2 / 4 + 0) / 2)
    assert m["pass@2"] == pytest.approx((1 - 1 / 6 + 0) / 2)  # C(2,2)/C(4,2) = 1/6 of pairs miss
    assert m["pass@4"] == pytest.approx(0.5)
    assert result.per_row[0]["samples_correct"] == "2/4"


def test_ifmt_scores_rules_and_translation_quality():
    rows = [
        {
            "prompt": "Translate ...",
            "src": "the <b>dog</b> sleeps.",
            "reference": "pe <b>sudu</b> kalan.",
            "src_lang": "en",
            "tgt_lang": "qaa",
            "constraints": [
                {"type": "translation:markup_preserved"},
                {"type": "startend:end_checker", "end_phrase": "kalan."},
            ],
        },
        {
            "prompt": "Translate ...",
            "src": "a cat runs.",
            "reference": "GA MITA RUNIN.",
            "src_lang": "en",
            "tgt_lang": "qaa",
            "constraints": [{"type": "change_case:english_capital"}],
        },
    ]
    result = score("ifmt", rows, ["pe <b>sudu</b> kalan.", "ga mita runin."])
    m = result.metrics
    assert m["constraint_accuracy"] == pytest.approx(2 / 3) and m["prompt_accuracy"] == 0.5
    assert m["rows"] == 2 and 0 < m["chrf"] < 100 and m["chrf/en-qaa"] == m["chrf"]
    assert result.per_row[0]["passed"] == [True, True] and "chrf" in result.per_row[1]


def test_code_accuracy_and_pass_at_k_run_in_the_sandbox():
    """The real code reward (bubblewrap): a problem counts as solved only when every test passes."""
    from rewards.sandbox import Sandbox, SandboxUnavailable

    try:
        Sandbox().check()
    except SandboxUnavailable as exc:
        pytest.skip(f"no sandbox here: {exc}")
    rows = [
        {"tests": {"inputs": ["2\n", "5\n"], "outputs": ["4", "10"]}},
        {"tests": ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]},
    ]
    double = "```python\nprint(int(input()) * 2)\n```"
    wrong = "```python\nprint(4)\n```"  # passes one test of two: not solved
    add = "```python\ndef add(a, b):\n    return a + b\n```"
    cfg = EvalConfig(data={"code": "unused.jsonl"}, samples_per_prompt=2, pass_k=[1, 2])
    result = score("code", rows, [wrong, add], samples=[[wrong, double], [wrong, wrong]], cfg=cfg)
    assert result.metrics["accuracy"] == 0.5  # `add` solves the second problem, `wrong` not the first
    assert result.metrics["pass@1"] == pytest.approx(0.25) and result.metrics["pass@2"] == pytest.approx(0.5)


def test_rlsys_eval_samples_answers_for_pass_at_k(tiny_llama, toy, tmp_path):
    """Sampled answers come from the rollout backend at the eval temperature: n per math row, not
    all equal to the greedy answer's repetition (a random model samples different tokens)."""
    cfg = EvalConfig(
        data={"math": str(toy / "eval_math.jsonl")},
        limit=3,
        max_new_tokens=8,
        max_model_len=256,
        samples_per_prompt=4,
        pass_k=[1, 4],
        temperature=1.0,
        output_dir=str(tmp_path / "r"),
    )
    metrics = evaluate(tiny_llama, cfg)
    assert {"math/accuracy", "math/pass@1", "math/pass@4", "math/samples_per_prompt"} <= set(metrics)
    records = [json.loads(line) for line in (tmp_path / "r" / "samples.jsonl").read_text().splitlines()]
    assert all(len(r["samples"]) == 4 for r in records)
    assert any(len(set(r["samples"])) > 1 for r in records)
    assert "pass@4" in (tmp_path / "r" / "eval.md").read_text()
