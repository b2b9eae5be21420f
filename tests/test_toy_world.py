"""The toy multilingual world: deterministic, loadable by the project's loaders, and honest.

"Honest" means: gold answers earn full marks from the same scorers the evaluation and RL use,
corrupted answers do not, and nothing held out for evaluation appears in a training file.
"""

from __future__ import annotations

import json

import pytest

from pretrain_sft.data import detect_kind, load_records
from pretrain_sft.formatting import make_formatter
from rewards.instructions import check_constraints
from rlsys.core.data import load_prompts
from rlsys.toy.world import (
    FORMATS,
    LANGUAGE_NAMES,
    NOUNS,
    build_toy_world,
    instruction_tasks,
    make_lexicon,
    read_corpus,
    sentence_pool,
    write_toy_world,
)

KINDS = {"cpt_text": "text", "cpt_parallel": "parallel", "sft": "chat", "sft_ifmt": "chat", "preference": "preference"}
EVAL_FILES = ("eval_translation", "eval_math", "eval_instructions", "eval_ifmt", "curate")


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    write_toy_world(out, seed=0)
    return out


@pytest.fixture(scope="module")
def tokenizer(world_dir):
    from rlsys.toy.tiny import train_tokenizer

    return train_tokenizer(read_corpus(world_dir))


def test_same_seed_same_bytes_other_seed_other_world(world_dir, tmp_path):
    write_toy_world(tmp_path / "again", seed=0)
    names = sorted(p.name for p in world_dir.iterdir())
    assert names == sorted(p.name for p in (tmp_path / "again").iterdir())
    for name in names:
        assert (world_dir / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    other = build_toy_world(seed=1)
    assert other.lexicon != make_lexicon(0)
    assert other.files["cpt_parallel"] != build_toy_world(seed=0).files["cpt_parallel"]


def test_lexicon_is_a_bijection_and_sentences_are_short():
    lexicon = make_lexicon(0)
    assert 45 <= len(lexicon) <= 60 and len(set(lexicon.values())) == len(lexicon)
    assert not set(lexicon.values()) & set(lexicon)
    pool = sentence_pool(0, 500)
    lengths = {len(s.english().split()) for s in pool}
    assert min(lengths) == 3 and max(lengths) == 6
    for s in pool[:50]:  # Toyish has the same number of words: one per English word
        assert len(s.toyish(lexicon).split()) == len(s.english().split())


def test_training_files_load_as_their_kind(world_dir, tokenizer):
    for name, kind in KINDS.items():
        records = load_records(world_dir / f"{name}.jsonl")
        assert detect_kind(records) == kind, name
        options = {"names": LANGUAGE_NAMES} if kind == "parallel" else {}
        formatter = make_formatter(kind, tokenizer, **options)
        for row in records:  # every row formats: chats have assistant turns, pairs differ in tokens
            formatter(row)


def test_rl_and_eval_rows_load_as_rl_prompts(world_dir):
    rows = load_prompts(world_dir / "rl.jsonl", "prompt")
    assert {r["reward"] for r in rows} == {"chrf", "math", "instructions"}
    for name in EVAL_FILES:
        assert load_prompts(world_dir / f"{name}.jsonl", "prompt")
    manifest = json.loads((world_dir / "world.json").read_text())
    assert manifest["language_names"] == LANGUAGE_NAMES
    assert manifest["files"]["rl"]["rows"] == len(rows)


def _training_text(world) -> str:
    parts = []
    for name in ("cpt_text", "cpt_parallel", "sft", "sft_ifmt", "preference", "rl", "curate"):
        parts += [json.dumps(row, ensure_ascii=False) for row in world.files[name]]
    return "\n".join(parts)


def test_eval_sets_are_held_out():
    world = build_toy_world(seed=0)
    train = _training_text(world)
    for row in world.files["eval_translation"]:
        assert row["src"] not in train and row["reference"] not in train
    for row in world.files["eval_math"] + world.files["eval_instructions"]:
        assert json.dumps(row["prompt"][0]["content"], ensure_ascii=False) not in train
    for row in world.files["eval_math"]:  # nor as a fact in the CPT text ("3+4=7.")
        expression = row["prompt"][0]["content"].split()[-1].rstrip("?")
        assert f" {expression}=" not in train and f'"{expression}=' not in train
    assert len(world.files["eval_math"]) >= 30 and len(world.files["eval_instructions"]) == 40
    for row in world.files["eval_ifmt"]:
        assert row["reference"] not in train and json.dumps(row["src"], ensure_ascii=False)[1:-1] not in train


def test_gold_answers_score_full_marks():
    from rlsys.evaluate import score

    world = build_toy_world(seed=0)
    rows = world.files["eval_translation"]
    assert score("translation", rows, [r["reference"] for r in rows]).metrics["chrf"] == pytest.approx(100.0)
    copied = score("translation", rows, [r["src"] for r in rows]).metrics["chrf"]
    assert copied < 40  # copying the source is far from a translation


def test_instruction_answers_meet_their_constraints():
    import random

    rng = random.Random(0)
    tasks = instruction_tasks()
    assert len(tasks) == (len(NOUNS) + len(NOUNS) * (len(NOUNS) - 1)) * len(FORMATS)
    for task in tasks[::7]:
        good = check_constraints(task.answer(rng), task.constraints())
        bad = check_constraints(task.wrong_answer(rng), task.constraints())
        assert all(good), (task, good)
        assert not all(bad), (task, bad)


def test_preference_pairs_prefer_the_right_answer():
    world = build_toy_world(seed=0)
    by_prompt = {}
    for row in world.files["sft"]:
        by_prompt.setdefault(row["messages"][0]["content"], set()).add(row["messages"][1]["content"])
    for row in world.files["preference"]:
        assert row["chosen"] != row["rejected"]
        prompt = row["prompt"][0]["content"]
        if prompt.startswith("Translate") or "\\boxed" in row["chosen"]:
            # translations and sums have one right answer; when SFT saw the prompt it taught `chosen`
            assert by_prompt.get(prompt, {row["chosen"]}) == {row["chosen"]}


# ---------------------------------------------------------------- IF-MT-style items


def test_ifmt_items_have_two_to_four_checkable_rules_that_gold_answers_meet():
    """Every item: 2-4 rules of the documented kinds; the reference meets all of them and earns full
    marks from the evaluator; copying the source or ignoring the rules does not."""
    from rlsys.evaluate import score

    world = build_toy_world(seed=0)
    rows, items = world.files["eval_ifmt"], world.files["ifmt"]
    assert len(rows) == len(items) == 32 and [r["id"] for r in rows] == [i["id"] for i in items]
    kinds = {"translation:glossary", "translation:markup_preserved", "startend:quotation", "startend:end_checker"}
    for row in rows:
        assert 2 <= len(row["constraints"]) <= 4 and {c["type"] for c in row["constraints"]} <= kinds
        assert all(check_constraints(row["reference"], row["constraints"], src=row["src"])), row["id"]
    gold = score("ifmt", rows, [r["reference"] for r in rows]).metrics
    assert gold["prompt_accuracy"] == 1.0 and gold["chrf"] == pytest.approx(100.0)
    copied = score("ifmt", rows, [r["src"] for r in rows]).metrics
    assert copied["prompt_accuracy"] < 0.2 and copied["chrf"] < 40
    plain = [r["reference"].strip('"').replace("<b>", "").replace("</b>", "") for r in rows]  # rules dropped
    assert score("ifmt", rows, plain).metrics["prompt_accuracy"] < 0.2
    assert not any("\nRules:\n" in r["messages"][0]["content"] for r in world.files["sft"])
    sft_ifmt = world.files["sft_ifmt"]
    assert len(sft_ifmt) == 120 and all("\nRules:\n" in r["messages"][0]["content"] for r in sft_ifmt)
    for row in sft_ifmt:  # the SFT answers meet their own rules
        *prompt, answer = row["messages"]
        assert answer["role"] == "assistant" and answer["content"].strip()


def test_ifmt_multi_turn_items_and_the_ifmt_schema():
    """A quarter of the items are multi-turn: turn 1 with 2-3 rules and the reference as the
    assistant turn, turn 2 adds one rule; the final answer must meet all of them. The schema rows
    hold exactly the fields rewards/instructions/ifmt.py documents, each rule with its wording."""
    world = build_toy_world(seed=0)
    fields = {"id", "source", "src", "src_lang", "tgt_lang", "rules", "reference", "instruction", "turns", "meta"}
    multi = 0
    for item, row in zip(world.files["ifmt"], world.files["eval_ifmt"]):
        assert set(item) <= fields and item["source"] == row["src"] and item["tgt_lang"] == "qaa"
        assert 2 <= len(item["rules"]) <= 4 and all(isinstance(r["text"], str) and r["type"] for r in item["rules"])
        for rule in item["rules"]:
            assert rule["text"] in row["prompt"][0]["content"]
        if "turns" in item:
            multi += 1
            (turn,) = item["turns"]
            assert set(turn) == {"user", "rules", "reference"} and turn["reference"] == row["reference"]
            assert [m["role"] for m in row["prompt"]] == ["user", "assistant", "user"]
            assert row["prompt"][1]["content"] == item["reference"] and row["prompt"][2]["content"] == turn["user"]
            assert len(row["constraints"]) == len(item["rules"]) + 1
            # the turn-1 answer misses the follow-up's rule, so a model must read the last turn
            assert not all(check_constraints(item["reference"], row["constraints"], src=row["src"]))
        else:
            assert item["reference"] == row["reference"] and len(row["prompt"]) == 1
    assert multi == 8
