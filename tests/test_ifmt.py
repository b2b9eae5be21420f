"""The IF-MT-style JSONL loader: a hand-written file becomes RL / eval rows whose references meet
every rule, that the RL data loader and the evaluator accept; bad rows name file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rewards.compose import score_rows
from rewards.instructions.ifmt import IFMTError, ifmt_prompt, load_ifmt, main
from rlsys.core.data import load_prompts
from rlsys.evaluate import score as eval_score

SAMPLE = Path(__file__).parent / "data" / "ifmt_sample.jsonl"


def test_rows_have_the_tower_prompt_rules_and_constraints() -> None:
    rows = load_ifmt(SAMPLE)
    assert [r["id"] for r in rows] == ["pt-1", "pt-2", "es-1", "zh-1", "pt-3"]
    first = rows[0]
    assert first["prompt"][0]["content"] == ifmt_prompt(
        first["src"],
        "en",
        "pt-PT",
        [
            "Write every date as DD/MM/YYYY.",
            "Write times in the 24-hour format (e.g. 15:30).",
            "Convert amounts in USD to EUR at 1 USD = 0.9 EUR.",
            "Convert imperial units to metric units.",
        ],
    )
    assert first["prompt"][0]["content"].startswith(
        "Translate the following English source text to Portuguese (Portugal):\nRules:\n- "
    )
    assert first["prompt"][0]["content"].endswith("\nPortuguese (Portugal): ")
    assert first["constraints"][0] == {"type": "translation:target_language"} and len(first["constraints"]) == 5
    assert rows[3]["prompt"][0]["content"].splitlines()[2] == "- Use the 24-hour clock."  # the row's own wording
    assert "«…» quotation marks" in rows[1]["prompt"][0]["content"]
    multi = rows[4]
    assert [m["role"] for m in multi["prompt"]] == ["user", "assistant", "user"]
    assert multi["constraints"] == [{"type": "translation:target_language"}] and len(multi["turn_constraints"]) == 2
    assert multi["reference"].startswith("Loja em Lisboa")  # the reference of the last turn


def test_references_meet_every_rule_and_a_copy_of_the_source_does_not() -> None:
    rows = load_ifmt(SAMPLE)
    assert [r.score for r in score_rows([r["reference"] for r in rows], rows)] == [1.0] * len(rows)
    copies = score_rows([r["src"] for r in rows], rows)
    assert all(r.score < 0.5 for r in copies), [(r.score, r.rewards["instructions"].reason) for r in copies]
    rules_only = load_ifmt(SAMPLE, extra_constraints=())
    assert [len(r["constraints"]) for r in rules_only] == [4, 3, 2, 2, 0]


def test_converted_file_feeds_rl_and_eval(tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    main([str(SAMPLE), str(out)])
    rows = load_prompts(out, "prompt")  # the RL loader: prompts, reward names and their columns
    assert len(rows) == 5 and all(r["reward"] == "instructions" for r in rows)
    refs = [r["reference"] for r in rows]
    instructions = eval_score("instructions", rows, refs)
    assert instructions.metrics["prompt_accuracy"] == 1.0 and instructions.metrics["constraint_accuracy"] == 1.0
    assert eval_score("translation", rows, refs).metrics["chrf"] == pytest.approx(100.0)
    wrong = eval_score("instructions", rows, [r["src"] for r in rows])
    assert wrong.metrics["prompt_accuracy"] == 0.0


GOOD = {
    "src_lang": "en",
    "tgt_lang": "pt-PT",
    "source": "On May 2, 2025 it costs $5.",
    "rules": [{"type": "translation:date_format"}, {"type": "translation:currency", "rate": 0.9, "target": "EUR"}],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": ""}, "field 'source': must be a non-empty string"),
        ({"tgt_lang": "xx"}, "field 'tgt_lang': unknown language code 'xx'"),
        ({"tgt_lang": None}, "field 'tgt_lang': must be a non-empty string"),
        ({"rules": GOOD["rules"][:1]}, "field 'rules': 1 rules; IF-MT rows have 2 to 4"),
        ({"rules": GOOD["rules"] * 3}, "field 'rules': 6 rules"),
        ({"rules": "dates"}, "field 'rules': must be a list"),
        (
            {"rules": [GOOD["rules"][0], {"type": "translation:currency", "rate": -1, "target": "EUR"}]},
            "field 'rules': constraint 1 (translation:currency): field 'rate': expected a positive number",
        ),
        (
            {"rules": [GOOD["rules"][0], {"type": "translation:nope"}]},
            "field 'rules': constraint 1: unknown type 'translation:nope'",
        ),
        (
            {"rules": [GOOD["rules"][0], {"type": "punctuation:no_comma"}]},
            "rule 1 (punctuation:no_comma) needs a 'text'",
        ),
        ({"rules": [GOOD["rules"][0], 7]}, "field 'rules': rule 1 must be an object"),
        ({"refernce": "x"}, "field 'refernce': unknown field"),
        ({"turns": [{"user": "Shorter."}]}, "field 'turns[0]': follows a turn without a reply: give 'reference'"),
        ({"reference": "x", "turns": [{"user": "Shorter.", "reply": "y"}]}, "field 'turns[0]': unknown field 'reply'"),
        ({"reference": "x", "turns": [{"user": ""}]}, "field 'turns[0].user': must be a non-empty string"),
        (
            {"reference": "x", "turns": [{"user": "a"}, {"user": "b"}]},
            "field 'turns[1]': follows a turn without a reply: give 'turns[0].reference'",
        ),
        (
            {"reference": "x", "turns": [{"user": "a", "rules": [{"type": "translation:max_characters"}]}]},
            "field 'turns[0].rules': constraint 0 (translation:max_characters): missing field 'max_chars'",
        ),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path: Path, change: dict, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps({**GOOD, **change}) + "\n", encoding="utf-8")
    with pytest.raises(IFMTError) as info:
        load_ifmt(path)
    assert str(info.value).startswith(f"{path} line 3, "), str(info.value)
    assert message in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text(json.dumps(GOOD) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(IFMTError, match=r"bad.jsonl line 2: not valid JSON"):
        load_ifmt(tmp_path / "bad.jsonl")
    (tmp_path / "list.jsonl").write_text("[1]\n", encoding="utf-8")
    with pytest.raises(IFMTError, match=r"list.jsonl line 1: each line must be a JSON object"):
        load_ifmt(tmp_path / "list.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(IFMTError, match="no rows"):
        load_ifmt(tmp_path / "empty.jsonl")
    with pytest.raises(IFMTError, match="file not found"):
        load_ifmt(tmp_path / "missing.jsonl")


def test_rule_count_and_reward_are_options(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({**GOOD, "rules": GOOD["rules"][:1]}) + "\n", encoding="utf-8")
    (row,) = load_ifmt(
        path, min_rules=1, reward=[{"name": "instructions", "weight": 1.0}, {"name": "chrf", "weight": 0.5}]
    )
    assert row["reward"][1]["name"] == "chrf" and row["reference"] is None


def test_converted_file_loads_as_an_eval_set(tmp_path: Path) -> None:
    """Through rlsys eval's reader (datasets/Arrow unifies the rule objects' keys with nulls)."""
    from rlsys.core.pipeline_config import EvalConfig
    from rlsys.evaluate import load_sets

    out = tmp_path / "rows.jsonl"
    main([str(SAMPLE), str(out)])
    (eval_set,) = load_sets(EvalConfig(data={"instructions:ifmt": str(out)}))
    refs = [row["reference"] for row in eval_set.rows]
    assert eval_score("instructions", eval_set.rows, refs).metrics["prompt_accuracy"] == 1.0
    assert (
        eval_score("instructions", eval_set.rows, [r["src"] for r in eval_set.rows]).metrics["prompt_accuracy"] == 0.0
    )
