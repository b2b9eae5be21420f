"""Curation rules without a model: dedupe, filters, best-of-n selection, pairs and quotas
(rlsys/curate_select.py), on hand-made candidates whose outcome is known."""

from __future__ import annotations

import collections

import pytest

from rlsys.core.pipeline_config import CurateConfig, CurateFilters
from rlsys.curate_select import (
    apply_quota,
    dedupe,
    domain_of,
    filter_reason,
    normalize_text,
    select,
)


def cfg(**kw) -> CurateConfig:
    return CurateConfig.model_validate({"model": {"path": "m"}, "sources": [{"path": "p.jsonl"}], **kw})


def cand(text, score, index=0, model="policy", finish="stop", status="ok"):
    return {
        "completion": text,
        "score": score if status == "ok" else None,
        "status": status,
        "finish": finish,
        "index": index,
        "model": model,
        "logprob": -1.5 * (index + 1),
        "tokens": 3,
    }


def test_normalized_dedupe_merges_case_spacing_and_punctuation_but_not_different_sums():
    rows = [
        {"prompt": "What is 3+4?"},
        {"prompt": "what is  3+4"},
        {"prompt": "What is 3-4?"},
        {"prompt": [{"role": "user", "content": "Hi, there!"}]},
        {"prompt": [{"role": "user", "content": "Hi, there!"}]},
        {"prompt": [{"role": "user", "content": "hi there"}]},
        {"prompt": "What is 34?"},
    ]
    keep, dropped = dedupe(rows, "normalized")
    assert keep == [0, 2, 3, 6] and dropped == {"exact": 1, "normalized": 2}
    keep, dropped = dedupe(rows, "exact")
    assert keep == [0, 1, 2, 3, 5, 6] and dropped == {"exact": 1}
    assert dedupe(rows, "none")[0] == list(range(7))
    assert normalize_text("«Olá»,   MUNDO!") == "olá mundo" and normalize_text("3+4=7") == "3+4=7"
    with pytest.raises(ValueError, match="dedupe must be"):
        dedupe(rows, "fuzzy")


def test_domain_comes_from_the_row_then_the_source_then_the_reward():
    assert domain_of({"reward": "chrf"}) == "translation"
    assert domain_of({"reward": [{"name": "length_penalty"}, {"name": "math"}]}) == "math"
    assert domain_of({"reward": "comet_qe"}, "instructions") == "instructions"
    assert domain_of({"reward": "chrf", "domain": "code"}, "math") == "code"
    assert domain_of({"reward": "my.module:fn"}) == "other"


def test_filters_name_the_first_rule_a_candidate_breaks():
    filters = CurateFilters(min_chars=3, max_chars=40)
    row = {"tgt_lang": "de", "src": "The cat sleeps on the sofa."}
    german = "Die Katze schläft auf dem Sofa und ist sehr müde."
    assert filter_reason(cand(german[:38], 0.9), row, "translation", filters) is None
    assert filter_reason(cand("x", None, status="error"), row, "translation", filters) == "unscored"
    assert filter_reason(cand("Die Katze", 0.5, finish="length"), row, "translation", filters) == "truncated"
    assert filter_reason(cand("ok", 0.5), row, "translation", filters) == "length"
    assert filter_reason(cand("x" * 41, 0.5), row, "translation", filters) == "length"
    english = "The cat is sleeping on the sofa and it is tired."[:40]
    assert filter_reason(cand(english, 0.9), row, "translation", filters) == "language"
    # no detectable target language (toy or unknown code), or the language filter off: kept
    assert filter_reason(cand(english, 0.9), {"tgt_lang": "qaa"}, "translation", filters) is None
    off = CurateFilters(language=False)
    assert filter_reason(cand(english, 0.9), row, "translation", off) is None
    # a row's own `language` column applies to any domain
    assert filter_reason(cand(english, 0.9), {"language": "de"}, "instructions", filters) == "language"
    # the translation guards hook: called for translation rows only
    seen = []

    def guard(text, r):
        seen.append(text)
        return "guard copy: output is the source" if text == r["src"] else None

    assert filter_reason(cand(row["src"], 0.9), row, "translation", off, guard) == "guard"
    assert filter_reason(cand(german, 0.9), row, "translation", off, guard) is None
    assert filter_reason(cand(row["src"], 0.9), row, "math", off, guard) is None and len(seen) == 2


def test_select_keeps_the_best_passing_answer_and_pairs_it_with_the_worst_different_one():
    prompt = {"id": "s:0", "source": "s", "domain": "math", "row": {"prompt": "What is 2+2?", "answer": "4"}}
    group = [
        cand("\\boxed{5}", 0.0, 0),
        cand("\\boxed{4}", 1.0, 1, model="teacher"),
        cand("\\boxed{4}.", 1.0, 2),
        cand("\\boxed{4} is it", 1.0, 3, finish="length"),
        cand("\\boxed{3}", 0.0, 4),
    ]
    for c in group:
        c["filtered"] = "truncated" if c["finish"] == "length" else None
    sft, pair = select(prompt, group, cfg(sft_min_score=1.0))
    assert sft["messages"] == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "\\boxed{4}"},
    ]
    assert (sft["score"], sft["model"], sft["domain"], sft["id"]) == (1.0, "teacher", "math", "s:0")
    assert (pair["chosen"], pair["rejected"]) == ("\\boxed{4}", "\\boxed{5}")
    assert (pair["score_chosen"], pair["score_rejected"], pair["chosen_model"]) == (1.0, 0.0, "teacher")
    assert (pair["chosen_logprob"], pair["rejected_logprob"], pair["chosen_tokens"]) == (-3.0, -1.5, 3)
    # below the threshold: no SFT row; too small a margin: no pair
    assert select(prompt, group, cfg(sft_min_score=1.5))[0] is None
    assert select(prompt, group, cfg(pair_min_margin=1.5))[1] is None
    # per-domain thresholds
    assert select(prompt, group, cfg(sft_min_score={"math": 2.0, "default": 0.0}))[0] is None
    # answers that only differ in case / punctuation are not a pair
    same = [dict(cand("The dog runs.", 0.9, 0), filtered=None), dict(cand("the dog runs", 0.1, 1), filtered=None)]
    assert select({**prompt, "domain": "translation"}, same, cfg())[1] is None
    # nothing passes the filters: nothing is kept
    assert select(prompt, [dict(cand("\\boxed{4}", 1.0), filtered="length")], cfg()) == (None, None)


def test_quota_sets_the_mix_from_the_best_rows_of_each_domain():
    rows = (
        [{"domain": "translation", "score": s / 100} for s in range(60)]
        + [{"domain": "math", "score": 1.0} for _ in range(10)]
        + [{"domain": "instructions", "score": s / 30} for s in range(30)]
        + [{"domain": "code", "score": 1.0} for _ in range(5)]
    )
    picked, mix = apply_quota(rows, {"translation": 0.5, "math": 0.25, "instructions": 0.25}, None, seed=0)
    assert mix == {"translation": 20, "math": 10, "instructions": 10}  # math (10 rows) limits the total to 40
    counts = collections.Counter(r["domain"] for r in picked)
    assert counts == mix and "code" not in counts  # a domain without a share is dropped
    assert min(r["score"] for r in picked if r["domain"] == "translation") == 0.4  # the best 20 of 60
    picked, mix = apply_quota(rows, {"translation": 0.5, "math": 0.25, "instructions": 0.25}, 8, seed=0)
    assert mix == {"translation": 4, "math": 2, "instructions": 2}
    everything, mix = apply_quota(rows, {}, None, seed=0)
    assert len(everything) == 105 and mix["code"] == 5
    capped, mix = apply_quota(rows, {}, 21, seed=0)
    assert len(capped) == 21 and mix == {"translation": 12, "math": 2, "instructions": 6, "code": 1}
    assert (
        apply_quota(rows, {"translation": 1.0}, None, seed=1)[0]
        != apply_quota(rows, {"translation": 1.0}, None, seed=2)[0]
    )
    assert apply_quota(rows, {"poetry": 1.0}, None, seed=0) == ([], {"poetry": 0})
    # a domain of the quota without a single row does not empty the output: it is named with 0
    picked, mix = apply_quota(rows, {"translation": 0.5, "math": 0.25, "poetry": 0.25}, None, seed=0)
    assert mix == {"translation": 20, "math": 10, "poetry": 0} and len(picked) == 30


def test_curate_config_refuses_what_cannot_work():
    from rlsys.core.config import ConfigError, validate

    base = {"model": {"path": "m"}, "sources": [{"path": "p.jsonl"}]}
    for extra, message in [
        ({"models": [{}, {"name": "policy", "path": "x"}]}, "same name"),
        ({"quota": {"math": -1}}, "quota shares must be >= 0"),
        ({"rewards": {"remote": {"comet_qe": "ftp://x"}}}, "not an http"),
        ({"qe": {}}, "eval.qe needs a url"),
        ({"filters": {"dedupe": "fuzzy"}}, "filters.dedupe"),
    ]:
        with pytest.raises(ConfigError, match=message):
            validate(CurateConfig, {**base, **extra}, "curate.yaml")
