"""Loading, validation, formatting, templates, overlength handling, mixing and validation splits.

Offline: the tokenizer is trained in-process (rlsys.toy.tiny, ChatML template with {% generation %}
blocks) and every file is written to tmp_path.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import collections  # noqa: E402
import json  # noqa: E402

import datasets  # noqa: E402
import pytest  # noqa: E402

from pretrain_sft.data import DataError, DataStats, detect_kind, load_records  # noqa: E402
from pretrain_sft.examples import IGNORE_INDEX, build_examples  # noqa: E402
from pretrain_sft.formatting import make_formatter  # noqa: E402
from pretrain_sft.mixing import mix_indices, mixture_counts, split_validation, token_mix  # noqa: E402
from pretrain_sft.templates import (  # noqa: E402
    LANGUAGE_NAMES,
    TRANSLATION_TEMPLATES,
    language_name,
    translation_prompt,
)

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Translate: hello"},
    {"role": "assistant", "content": "Olá"},
    {"role": "user", "content": "And: thanks"},
    {"role": "assistant", "content": "Obrigado."},
]


@pytest.fixture(scope="module")
def tok():
    from rlsys.toy.tiny import train_tokenizer

    return train_tokenizer()


def write_jsonl(path, rows) -> str:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return str(path)


def load(path, tmp_path):
    return load_records(path, cache_dir=str(tmp_path / "cache"))


def labelled_text(tok, example) -> str:
    return tok.decode([t for t, label in zip(example.input_ids, example.labels) if label != IGNORE_INDEX])


# ---- chat masking --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["prefix", "generation"])
def test_chat_labels_only_assistant_tokens_multi_turn(tok, tmp_path, method):
    records = load(write_jsonl(tmp_path / "sft.jsonl", [{"messages": CHAT}]), tmp_path)
    (example,) = build_examples(records, make_formatter("chat", tok, mask_method=method))
    assert example.input_ids == tok.apply_chat_template(CHAT, tokenize=True, return_dict=True)["input_ids"]
    text = labelled_text(tok, example)
    # Both assistant turns and their end-of-turn token, nothing from system/user turns.
    expected = "Olá<|im_end|>\nObrigado.<|im_end|>\n" if method == "prefix" else "Olá<|im_end|>Obrigado.<|im_end|>"
    assert text == expected
    assert "Translate" not in text and "Be brief" not in text
    # labels equal input_ids wherever they are not ignored
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(example.input_ids, example.labels))


def test_prefix_mask_covers_the_generation_mask_plus_template_whitespace(tok):
    prefix = make_formatter("chat", tok, mask_method="prefix")({"messages": CHAT})
    generation = make_formatter("chat", tok, mask_method="generation")({"messages": CHAT})
    assert prefix.input_ids == generation.input_ids
    extra = []
    for token, p, g in zip(prefix.input_ids, prefix.labels, generation.labels):
        assert not (g != IGNORE_INDEX and p == IGNORE_INDEX)
        if p != IGNORE_INDEX and g == IGNORE_INDEX:
            extra.append(token)
    assert tok.decode(extra).strip() == ""  # only ChatML's "\n" after <|im_end|>


def test_prefix_instability_is_an_error_not_a_wrong_mask(tok, tmp_path):
    """A template that rewrites earlier assistant turns (as reasoning-stripping templates do)."""
    bad = tok.__class__(tokenizer_object=tok.backend_tokenizer, bos_token="<|bos|>", eos_token="<|eos|>")
    bad.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
        "{% if m['role'] == 'assistant' and not loop.last %}[earlier]{% else %}{{ m['content'] }}{% endif %}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    path = write_jsonl(tmp_path / "sft.jsonl", [{"messages": CHAT}])
    expected = r"sft.jsonl line 1, field 'messages\[2\]': the first 3 messages do not tokenize"
    with pytest.raises(DataError, match=expected):
        build_examples(load(path, tmp_path), make_formatter("chat", bad, mask_method="prefix"))


# ---- templates and parallel data -------------------------------------------------------------


def test_language_names():
    assert len(LANGUAGE_NAMES) >= 30
    assert language_name("de") == "German"
    assert language_name("pt-BR") == "Portuguese (Brazil)"
    assert language_name("pt_br") == "Portuguese (Brazil)"
    assert language_name("zh-Hant") == "Chinese (Traditional)"
    assert language_name("Portuguese") == "Portuguese"
    assert language_name("xx", names={"xx": "Klingon"}) == "Klingon"
    with pytest.raises(ValueError, match="unknown language code 'xx'"):
        language_name("xx")
    with pytest.raises(ValueError, match="unknown script/region subtag 'ZZ'"):
        language_name("pt-ZZ")


def test_translation_prompts_are_deterministic_and_varied():
    prompts = [translation_prompt(f"sentence {i}", "en", "pt-PT", seed=3) for i in range(60)]
    assert prompts == [translation_prompt(f"sentence {i}", "en", "pt-PT", seed=3) for i in range(60)]
    used = {
        next(
            j
            for j, t in enumerate(TRANSLATION_TEMPLATES)
            if p == t.format(src=f"sentence {i}", src_lang="English", tgt_lang="Portuguese (Portugal)")
        )
        for i, p in enumerate(prompts)
    }
    assert used == set(range(len(TRANSLATION_TEMPLATES)))  # 60 rows hit all 6 phrasings
    other_seed = [translation_prompt(f"sentence {i}", "en", "pt-PT", seed=4) for i in range(60)]
    assert other_seed != prompts
    assert "English" in prompts[0] and "sentence 0" in prompts[0] and "Portuguese (Portugal)" in prompts[0]


def test_parallel_cpt_and_chat(tok, tmp_path):
    row = {"src": "Good morning", "tgt": "Bom dia", "src_lang": "en", "tgt_lang": "pt"}
    records = load(write_jsonl(tmp_path / "par.jsonl", [row]), tmp_path)
    assert detect_kind(records) == "parallel"
    prompt = translation_prompt("Good morning", "en", "pt", seed=0)
    (full,) = build_examples(records, make_formatter("parallel", tok))
    assert tok.decode(full.input_ids).startswith("<|bos|>" + prompt)
    assert full.labels == full.input_ids
    (target_only,) = build_examples(records, make_formatter("parallel", tok, loss_on="target"))
    assert labelled_text(tok, target_only).strip() == "Bom dia<|eos|>"
    (chat,) = build_examples(records, make_formatter("parallel_chat", tok))
    assert labelled_text(tok, chat) == "Bom dia<|im_end|>"  # auto -> the template's {% generation %}
    assert prompt in tok.decode(chat.input_ids)


def test_cpt_text_and_preference_formatting(tok, tmp_path):
    (text,) = build_examples([{"text": "Olá mundo"}], make_formatter("text", tok))
    assert tok.decode(text.input_ids) == "<|bos|>Olá mundo<|eos|>" and text.labels == text.input_ids
    rows = [
        {"prompt": "Say hi", "chosen": "Hi!", "rejected": "No.", "score_chosen": 9, "score_rejected": 1.5},
        {
            "prompt": [{"role": "user", "content": "Say hi"}],
            "chosen": [{"role": "assistant", "content": "Hi!"}],
            "rejected": "Go away",
        },
    ]
    records = load(write_jsonl(tmp_path / "pref.jsonl", rows), tmp_path)
    assert detect_kind(records) == "preference"
    first, second = build_examples(records, make_formatter("preference", tok))
    assert tok.decode(first.prompt_ids) == "<|im_start|>user\nSay hi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.decode(first.chosen_ids) == "Hi!<|im_end|>\n"
    assert tok.decode(first.rejected_ids) == "No.<|im_end|>\n"
    assert (first.score_chosen, first.score_rejected) == (9.0, 1.5)
    assert second.prompt_ids == first.prompt_ids and second.chosen_ids == first.chosen_ids
    assert second.score_chosen is None


# ---- bad data: every message names file, row and field ----------------------------------------

GOOD = {
    "chat": {"messages": CHAT},
    "preference": {"prompt": "p", "chosen": "a", "rejected": "b"},
    "text": {"text": "ok"},
    "parallel": {"src": "a", "tgt": "b", "src_lang": "en", "tgt_lang": "de"},
}
BAD = [
    ("chat", {"conversation": CHAT}, "field 'messages': missing"),
    ("chat", {"messages": []}, "field 'messages': empty list of messages"),
    (
        "chat",
        {"messages": [{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]},
        "field 'messages[1].role': unknown role 'bot'",
    ),
    (
        "chat",
        {"messages": [{"role": "user"}, {"role": "assistant", "content": "y"}]},
        "field 'messages[0].content': missing",
    ),
    ("chat", {"messages": [{"role": "user", "content": "only a question"}]}, "field 'messages': no assistant message"),
    ("preference", {"prompt": "p", "chosen": "same", "rejected": "same"}, "field 'rejected': identical to 'chosen'"),
    ("preference", {"chosen": "a", "rejected": "b"}, "field 'prompt': missing"),
    (
        "preference",
        {"prompt": "p", "chosen": "a", "rejected": "b", "score_chosen": "high"},
        "field 'score_chosen': must be a number",
    ),
    ("text", {"text": "   "}, "field 'text': empty"),
    ("text", {"body": "x"}, "field 'text': missing"),
    (
        "parallel",
        {"src": "a", "tgt": "b", "src_lang": "en", "tgt_lang": "xx"},
        "field 'tgt_lang': unknown language code 'xx'",
    ),
]


@pytest.mark.parametrize("kind,bad,message", BAD, ids=[m.split(":")[0] + "-" + k for k, _, m in BAD])
def test_bad_rows_name_file_line_and_field(tok, tmp_path, kind, bad, message):
    # line 1 good, line 2 blank (skipped by the reader), line 3 bad
    path = write_jsonl(tmp_path / f"{kind}.jsonl", [GOOD[kind], "", bad])
    with pytest.raises(DataError) as err:
        build_examples(load(path, tmp_path), make_formatter(kind, tok))
    assert str(err.value).startswith(f"{path} line 3, {message}")


def test_malformed_json_names_the_line(tmp_path):
    path = write_jsonl(tmp_path / "broken.jsonl", [{"text": "a"}, "", '{"text": "b",}'])
    with pytest.raises(DataError, match=r"broken.jsonl line 3: not valid JSON"):
        load(path, tmp_path)


def test_parquet_and_saved_folders_use_row_numbers(tok, tmp_path):
    rows = {"text": ["fine", ""]}
    datasets.Dataset.from_dict(rows).to_parquet(str(tmp_path / "t.parquet"))
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows)}).save_to_disk(str(tmp_path / "saved"))
    for path in (tmp_path / "t.parquet", tmp_path / "saved"):
        with pytest.raises(DataError, match=rf"{path} row 2, field 'text': empty"):
            build_examples(load(path, tmp_path), make_formatter("text", tok))
    with pytest.raises(DataError, match=r"split 'test' not found; the folder has \['train'\]"):
        load_records(tmp_path / "saved", split="test")
    with pytest.raises(FileNotFoundError, match="data source not found"):
        load_records(tmp_path / "missing.jsonl")
    (tmp_path / "x.csv").write_text("text\n")
    with pytest.raises(DataError, match="unsupported file type"):
        load_records(tmp_path / "x.csv")


# ---- overlength -----------------------------------------------------------------------------


def test_overlength_policies(tok, tmp_path):
    long_text = " ".join(["palavra"] * 40)
    path = write_jsonl(tmp_path / "cpt.jsonl", [{"text": "curto"}, {"text": long_text}])
    records = load(path, tmp_path)
    fmt = make_formatter("text", tok)
    long_len = len(fmt({"text": long_text}))
    assert long_len > 16

    with pytest.raises(DataError, match=rf"cpt.jsonl line 2, field 'text': {long_len} tokens > max_tokens 16"):
        build_examples(records, fmt, max_tokens=16, on_overlength="error")

    stats = DataStats()
    kept = build_examples(records, fmt, max_tokens=16, on_overlength="drop", stats=stats)
    assert len(kept) == 1 and stats.as_dict() == {**DataStats().as_dict(), "rows": 2, "examples": 1, "dropped": 1}

    stats = DataStats()
    kept = build_examples(records, fmt, max_tokens=16, on_overlength="truncate", stats=stats)
    assert [len(e) for e in kept][1] == 16
    assert (stats.truncated, stats.truncated_tokens, stats.dropped) == (1, long_len - 16, 0)

    stats = DataStats()
    kept = build_examples(records, fmt, max_tokens=16, on_overlength="split", stats=stats)
    chunks = kept[1:]
    assert sum(len(c) for c in chunks) == long_len and all(len(c) <= 16 for c in chunks)
    assert stats.split == 1 and stats.examples == 1 + len(chunks)


def test_overlength_chat_and_preference(tok, tmp_path):
    chat = make_formatter("chat", tok)
    long_user = {"messages": [{"role": "user", "content": "palavra " * 40}, {"role": "assistant", "content": "ok"}]}
    stats = DataStats()
    # truncation would keep only user tokens: nothing left to learn -> dropped, and counted
    assert build_examples([long_user], chat, max_tokens=16, on_overlength="truncate", stats=stats) == []
    assert stats.dropped == 1 and stats.truncated == 0

    pref = make_formatter("preference", tok)
    row = {"prompt": "Say", "chosen": "yes " * 20, "rejected": "no " * 20}
    stats = DataStats()
    (pair,) = build_examples([row], pref, max_tokens=24, on_overlength="truncate", stats=stats)
    assert len(pair.prompt_ids) + len(pair.chosen_ids) == 24 and len(pair.rejected_ids) <= 24 - len(pair.prompt_ids)
    assert stats.truncated == 1
    with pytest.raises(DataError, match=r"row 1, field 'chosen/rejected': \d+ tokens > max_tokens 24"):
        build_examples([row], pref, max_tokens=24)
    with pytest.raises(ValueError, match="not valid for preference pairs"):
        build_examples([row], pref, max_tokens=24, on_overlength="split")


# ---- mixing and validation split --------------------------------------------------------------


def test_mixing_proportions_and_upsampling():
    sizes = {"en": 100, "pt": 10, "de": 50}
    mixed = mix_indices(sizes, {"en": 2, "pt": 1, "de": 1}, seed=0, num_samples=400)
    counts = collections.Counter(name for name, _ in mixed)
    assert counts == {"en": 200, "pt": 100, "de": 100}  # weights 1/2, 1/4, 1/4 of 400
    # pt (10 rows, 100 samples): every row exactly 10 times; de (50 rows, 100 samples): twice
    assert set(collections.Counter(i for n, i in mixed if n == "pt").values()) == {10}
    assert set(collections.Counter(i for n, i in mixed if n == "de").values()) == {2}
    # en: 200 samples of 100 rows -> each twice; all indices in range
    assert all(0 <= i < sizes[n] for n, i in mixed)
    assert mixed == mix_indices(sizes, {"en": 2, "pt": 1, "de": 1}, seed=0, num_samples=400)
    assert mixed != mix_indices(sizes, {"en": 2, "pt": 1, "de": 1}, seed=1, num_samples=400)
    # default epoch budget = total rows (160); downsampling gives distinct rows
    default = mix_indices(sizes, {"en": 0.1, "pt": 0.0, "de": 0.9}, seed=0)
    assert collections.Counter(n for n, _ in default) == {"en": 16, "de": 144}
    assert len({i for n, i in default if n == "en"}) == 16


def test_mixture_rounding_and_errors():
    assert mixture_counts({"a": 1, "b": 1, "c": 1}, 10) == {"a": 4, "b": 3, "c": 3}  # largest remainder, ties by name
    with pytest.raises(ValueError, match="no weight for \\['b'\\]"):
        mix_indices({"a": 1, "b": 1}, {"a": 1}, seed=0)
    with pytest.raises(ValueError, match="weight of source 'a' must be a finite number >= 0"):
        mix_indices({"a": 1}, {"a": -1}, seed=0)
    with pytest.raises(ValueError, match="at least one source weight must be > 0"):
        mix_indices({"a": 1}, {"a": 0}, seed=0)


def _token_shares(mixed, lengths):
    totals = collections.Counter()
    for name, i in mixed:
        totals[name] += lengths[name][i]
    return {name: totals[name] / sum(totals.values()) for name in lengths}


def test_token_mix_gives_each_source_its_share_of_the_tokens():
    """Tower+'s CPT split (66 % monolingual, 33 % parallel, 1 % instructions) as TOKEN shares:
    web documents of 300-700 tokens against sentence pairs of 15-45. Mixing by rows gives the
    parallel source ~4 % of the tokens; token_mix gives it 33 % (within 1 point), every epoch."""
    import random

    rng = random.Random(0)
    lengths = {
        "mono": [rng.randint(300, 700) for _ in range(400)],
        "parallel": [rng.randint(15, 45) for _ in range(2000)],
        "instructions": [rng.randint(100, 300) for _ in range(50)],
    }
    sizes = {name: len(ls) for name, ls in lengths.items()}
    tokens = {name: sum(ls) for name, ls in lengths.items()}
    weights = {"mono": 0.66, "parallel": 0.33, "instructions": 0.01}
    by_rows = _token_shares(mix_indices(sizes, weights, seed=0), lengths)
    assert by_rows["parallel"] < 0.06  # the failure token shares fix
    sample_weights, epoch = token_mix(sizes, tokens, weights)
    for seed in range(3):
        mixed = mix_indices(sizes, sample_weights, seed=seed, num_samples=epoch)
        realized = _token_shares(mixed, lengths)
        for name, weight in weights.items():
            assert realized[name] == pytest.approx(weight, abs=0.01), (seed, name, realized)
        # one epoch holds as many tokens as the data (up to rounding of the example counts)
        assert sum(lengths[n][i] for n, i in mixed) == pytest.approx(sum(tokens.values()), rel=0.01)
    assert token_mix(sizes, tokens, {"mono": 1, "parallel": 0, "instructions": 0}) == (
        {"mono": 1.0, "parallel": 0.0, "instructions": 0.0},
        sizes["mono"],
    )
    with pytest.raises(ValueError, match="source 'parallel' has no examples or no tokens"):
        token_mix({"mono": 4, "parallel": 0}, {"mono": 40, "parallel": 0}, {"mono": 1, "parallel": 1})


def test_validation_split_is_deterministic_and_disjoint():
    train, val = split_validation(1000, seed=7, fraction=0.05)
    assert len(val) == 50 and len(train) == 950 and not set(train) & set(val)
    assert sorted(train + val) == list(range(1000))
    assert (train, val) == split_validation(1000, seed=7, fraction=0.05)
    assert val != split_validation(1000, seed=8, fraction=0.05)[1]
    assert len(split_validation(1000, seed=7, count=12)[1]) == 12
    with pytest.raises(ValueError, match="exactly one of fraction or count"):
        split_validation(10, seed=0, fraction=0.1, count=1)
    with pytest.raises(ValueError, match=r"validation count must be in \[0, 10\)"):
        split_validation(10, seed=0, count=10)
