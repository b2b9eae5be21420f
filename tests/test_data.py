"""The one data reader (rlsys/core/data.py): exact values, and errors that name file, row and field."""

from __future__ import annotations

import json

import pytest

from rlsys.core.data import DataError, load_prompts, load_records


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_strings_that_look_like_json_stay_strings_in_mixed_columns(tmp_path):
    """datasets' Json feature (mixed-type columns) decodes "7" to 7, "true" to True, "null" to None."""
    rows = [
        {"prompt": "What is 3 + 4?", "answer": "7", "reward": "math"},
        {"prompt": [{"role": "user", "content": "Say true."}], "answer": 7, "reward": "exact_match"},
        {"prompt": "Say null.", "answer": "null", "reward": "exact_match"},
        {"prompt": "Say true.", "answer": "true", "reward": "exact_match"},
    ]
    path = write_jsonl(tmp_path / "rl.jsonl", rows)
    got = load_prompts(path, "prompt")
    assert [r["answer"] for r in got] == ["7", 7, "null", "true"]
    assert [type(r["prompt"]) for r in got] == [str, list, str, str]
    assert load_records(path).where(2) == f"{path} line 3"


def test_preference_rows_with_string_and_message_completions_are_exact(tmp_path):
    rows = [
        {"prompt": "Is it?", "chosen": "true", "rejected": [{"role": "assistant", "content": "no"}]},
        {"prompt": "Count", "chosen": "42", "rejected": "41"},
    ]
    records = load_records(write_jsonl(tmp_path / "pref.jsonl", rows))
    assert [records[i]["chosen"] for i in range(2)] == ["true", "42"]
    assert records.columns == ["prompt", "chosen", "rejected"]


def test_plain_columns_stay_in_arrow(tmp_path):
    path = write_jsonl(tmp_path / "cpt.jsonl", [{"text": "123"}, {"text": "hello"}])
    records = load_records(path)
    assert not isinstance(records.dataset, list)
    assert [r["text"] for r in records] == ["123", "hello"]


def test_errors_name_the_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok", "reward": "exact_match", "answer": "1"}\n\n{"prompt": "x", "reward": "math"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl line 3, field 'answer': missing; reward 'math' needs it"):
        load_prompts(path, "prompt")
    path.write_text('{"prompt": 1, "reward": "math", "answer": 1}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl line 1, field 'prompt'"):
        load_prompts(path, "prompt")
    path.write_text('{"prompt": "a"}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"bad\.jsonl line 2: a JSONL row must be an object"):
        load_records(path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_jsonl_file_is_a_data_error_naming_it(tmp_path, content):
    """An empty file (e.g. a curation that kept nothing) is "no rows", not a datasets stack trace."""
    path = tmp_path / "pairs.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=r"pairs\.jsonl: no rows"):
        load_records(path)
