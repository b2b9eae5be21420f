"""Conversation-level and per-turn constraints: the reward and the evaluator read every user turn.

A translation request in turn 1 (target language, date format), then "keep it under 12 words"
in turn 2: the reply to turn 2 must meet both turns' constraints; a constraint with
"persist": false holds only for its own turn."""

from __future__ import annotations

import json

import pytest

from rewards.compose import score_rows
from rewards.instructions import ConstraintError, active_constraints, check_constraints, check_conversation
from rewards.registry import get_reward, score
from rlsys.evaluate import score as eval_score

SRC = "The meeting on March 5, 2024 was postponed because the chairman is ill and nobody else can lead it."
PROMPT = [
    {"role": "system", "content": "You are a translator."},
    {"role": "user", "content": f"Translate into European Portuguese, dates as DD/MM/YYYY:\n{SRC}"},
    {
        "role": "assistant",
        "content": "A reunião de 05/03/2024 foi adiada porque o presidente está doente e ninguém mais a pode dirigir agora.",
    },
    {"role": "user", "content": "Now keep it under 12 words and start with 'Aviso:'."},
]
ROW = {
    "prompt": PROMPT,
    "src": SRC,
    "tgt_lang": "pt-PT",
    "constraints": [{"type": "translation:no_extra_text"}],
    "turn_constraints": [
        [
            {"type": "translation:target_language"},
            {"type": "translation:date_format"},
            {"type": "length_constraints:number_words", "num_words": 20, "relation": "at least", "persist": False},
        ],
        [
            {"type": "length_constraints:number_words", "num_words": 12, "relation": "less than"},
            {"type": "keywords:existence", "keywords": ["Aviso"]},
        ],
    ],
}
GOOD = "Aviso: reunião de 05/03/2024 adiada, o presidente está doente."
REPLIES = {
    "good": (GOOD, [True, True, True, True, True]),
    "forgot turn 1 (English)": (
        "Aviso: the meeting of 05/03/2024 was postponed, chairman ill.",
        [True, False, True, True, True],
    ),
    "forgot turn 1 (date)": (
        "Aviso: reunião de 5 de março de 2024 adiada, presidente doente.",
        [True, True, False, True, True],
    ),
    "forgot turn 2 (length)": (
        PROMPT[2]["content"].replace("A reunião", "Aviso: a reunião"),
        [True, True, True, False, True],
    ),
    "chatter": ("Aqui está a tradução:\n" + GOOD, [False, True, True, False, True]),
}


def _columns(rows: list[dict]) -> dict[str, list]:
    return {k: [r.get(k) for r in rows] for k in ("constraints", "prompt", "src", "tgt_lang", "turn_constraints")}


@pytest.mark.parametrize("name", list(REPLIES))
def test_reply_to_the_last_turn_meets_every_turn(name: str) -> None:
    reply, expected = REPLIES[name]
    passed = check_constraints(
        reply,
        ROW["constraints"],
        ROW["prompt"],
        ROW["src"],
        tgt_lang=ROW["tgt_lang"],
        turn_constraints=ROW["turn_constraints"],
    )
    assert passed == expected, name
    labels = [
        a.label
        for a in active_constraints(
            ROW["constraints"], ROW["turn_constraints"], prompt=PROMPT, src=SRC, tgt_lang="pt-PT"
        )
    ]
    assert labels == ["0", "t0.0", "t0.1", "t1.0", "t1.1"]  # t0.2 ("at least 20 words") does not persist


def test_the_instructions_reward_reads_turn_constraints() -> None:
    replies = [r for r, _ in REPLIES.values()]
    results = score(get_reward("instructions"), replies, _columns([ROW] * len(replies)))
    assert [r.score for r in results] == [sum(e) / 5 for _, e in REPLIES.values()]
    assert results[1].reason == "failed: t0.0 translation:target_language"
    assert results[3].reason == "failed: t1.0 length_constraints:number_words"


def test_turn_constraints_through_compose_and_json_strings() -> None:
    """As the trainer and the reward server see rows: JSON strings (Parquet) and the row's `reward` name."""
    row = {
        **ROW,
        "reward": "instructions",
        "turn_constraints": json.dumps(ROW["turn_constraints"]),
        "constraints": json.dumps(ROW["constraints"]),
    }
    results = score_rows([GOOD, REPLIES["forgot turn 1 (English)"][0]], [row, row])
    assert [r.score for r in results] == [1.0, 0.8]


def test_whole_conversation_each_reply_checked_at_its_turn() -> None:
    turn1 = PROMPT[2]["content"]
    assert check_conversation(
        [turn1, GOOD], ROW["constraints"], PROMPT, ROW["turn_constraints"], src=SRC, tgt_lang="pt-PT"
    ) == [[True, True, True, True], [True, True, True, True, True]]
    short_turn1 = "A reunião de 05/03/2024 foi adiada."  # fails turn 1's own "at least 20 words"
    assert check_conversation(
        [short_turn1, GOOD], ROW["constraints"], PROMPT, ROW["turn_constraints"], src=SRC, tgt_lang="pt-PT"
    )[0] == [True, True, True, False]
    with pytest.raises(ConstraintError, match="1 replies for a prompt with 2 user turn"):
        check_conversation([GOOD], ROW["constraints"], PROMPT, ROW["turn_constraints"], src=SRC)


def test_repeat_prompt_reads_the_turn_it_was_given_in() -> None:
    prompt = [
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "Say hi. Hi!"},
        {"role": "user", "content": "Again, louder."},
    ]
    turns = [[{"type": "combination:repeat_prompt", "persist": False}], [{"type": "combination:repeat_prompt"}]]
    assert check_constraints("Again, louder. HI!", [], prompt, turn_constraints=turns) == [True]
    assert check_constraints("Say hi. HI!", [], prompt, turn_constraints=turns) == [False]
    assert check_constraints("Say hi. Hi!", [], prompt, turn_constraints=turns, turn=0) == [True]


@pytest.mark.parametrize(
    ("turn_constraints", "message"),
    [
        ([[]], "has 1 entries but the prompt has 2 user turn"),
        ({"0": []}, "turn_constraints: expected a list"),
        ("[[", "turn_constraints: not valid JSON"),
        ([None, [{"type": "nope"}]], r"turn_constraints\[1\]: constraint 0: unknown type 'nope'"),
        (
            [None, [{"type": "keywords:existence"}]],
            r"turn_constraints\[1\]: constraint 0 \(keywords:existence\): missing field 'keywords'",
        ),
        (
            [None, [{"type": "punctuation:no_comma", "persist": "no"}]],
            r"turn_constraints\[1\]: constraint 0: field 'persist'",
        ),
        ([None, 5], r"turn_constraints\[1\]: expected a list"),
    ],
)
def test_bad_turn_constraints_name_turn_constraint_and_field(turn_constraints: object, message: str) -> None:
    with pytest.raises(ConstraintError, match=message):
        check_constraints("x", [], PROMPT, turn_constraints=turn_constraints)
    result = score(
        get_reward("instructions"),
        ["x"],
        {"constraints": [[]], "prompt": [PROMPT], "turn_constraints": [turn_constraints]},
    )[0]
    assert result.status == "error" and "turn_constraints" in result.reason


def test_single_turn_rows_behave_as_before() -> None:
    assert check_constraints("Hello, WORLD", [{"type": "punctuation:no_comma"}], "Say hello") == [False]
    assert score(get_reward("instructions"), ["x"], {"constraints": [[]]})[0].status == "not_applicable"
    only_once = [[{"type": "punctuation:no_comma", "persist": False}], []]
    result = score(
        get_reward("instructions"), ["a, b"], {"constraints": [[]], "prompt": [PROMPT], "turn_constraints": [only_once]}
    )[0]
    assert result.status == "not_applicable" and "no constraint applies" in result.reason


def test_the_evaluator_scores_multi_turn_rows() -> None:
    rows = [ROW, {**ROW, "_row": 7}]
    outputs = [GOOD, REPLIES["forgot turn 1 (English)"][0]]
    result = eval_score("instructions", rows, outputs)
    assert result.metrics["constraint_accuracy"] == pytest.approx(9 / 10)
    assert result.metrics["prompt_accuracy"] == pytest.approx(0.5)
    assert result.per_row[1]["passed"] == [True, False, True, True, True]


def test_parquet_round_trip_of_turn_constraints(tmp_path) -> None:
    """Parquet unifies the keys of nested objects (absent ones become null): rows still score."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rlsys.core.data import load_records

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist([ROW]), path)
    (row,) = load_records(path, cache_dir=str(tmp_path / "cache"))
    assert row["turn_constraints"][1][0]["persist"] is None  # filled in by Parquet
    passed = check_constraints(
        GOOD,
        row["constraints"],
        row["prompt"],
        row["src"],
        tgt_lang=row["tgt_lang"],
        turn_constraints=row["turn_constraints"],
    )
    assert passed == [True] * 5
