"""What curation keeps: prompt dedupe, completion filters, best-of-n selection, pairs, quotas.

Pure functions over plain dicts (no model, no Ray), so every rule is unit-tested
(tests/test_curate_select.py); rlsys/curate.py runs them on the scored candidates.

- Dedupe (prompts, before any generation): `exact` drops a prompt whose JSON is identical to an
  earlier one; `normalized` also drops one whose text is identical after `normalize_text`
  (Unicode NFKC, case folded, punctuation removed, whitespace collapsed; digits and symbols such
  as + - = are kept, so "What is 3+4?" and "What is 3-4?" stay apart). Near-duplicates by
  similarity (MinHash, embeddings) are not covered: on short prompts they merge different tasks.
- Filters (per candidate; a candidate that fails one cannot be chosen, the report counts why):
  `unscored` (the reward gave no score), `truncated` (stopped at max_new_tokens),
  `length` (characters outside [min_chars, max_chars]), `language` (the offline detector,
  rewards.instructions.language.detect_language, names another language than the row's `language`
  column, or `tgt_lang` for translation rows; rows whose language the detector does not know and
  answers it cannot decide are kept), `guard` (the translation guards of rewards.translation_guards
  when `filters.translation_guards` is on: source copies, wrong language, length ratio, chatter).
- SFT: per prompt, the best passing candidate if its score reaches the domain's `sft_min_score`.
- Pairs: per prompt, chosen = the best passing candidate, rejected = the lowest-scored judged
  candidate (a filtered one too: a wrong-language answer is a good rejected example) whose text
  differs after normalization, if chosen - rejected >= `pair_min_margin`.
- Quota (`quota: {domain: share}`): the output mix is set, not what the prompts happened to give.
  The largest total that holds each domain's share exactly within what was kept is taken (capped
  by `max_rows`), each domain's rows are its best-scored ones (ties in a seeded order); domains
  without a share are dropped. A domain with a share but no kept row at all is left out of the
  split (the others keep their relative shares; `apply_quota` names it, the report shows it),
  rather than emptying the whole output. Empty quota: every kept row, no cap but `max_rows`.

Domains: a row's `domain` column, else its source's `domain`, else its reward's (math, code,
instructions; chrf / bleu / comet / comet_qe -> translation), else "other".
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

REWARD_DOMAINS = {
    "math": "math",
    "code": "code",
    "instructions": "instructions",
    "instructions_loose": "instructions",
    "chrf": "translation",
    "bleu": "translation",
    "comet": "translation",
    "comet_qe": "translation",
}
DOMAINS = ("translation", "math", "code", "instructions", "other")
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC, case folded, Unicode punctuation removed, whitespace collapsed (see module docstring)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return _SPACES.sub(" ", text).strip()


def prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in prompt)


def dedupe(rows: Sequence[Mapping[str, Any]], mode: str, key: str = "prompt") -> tuple[list[int], Counter[str]]:
    """Indices of the rows to keep (first occurrence wins) and counts of what was dropped."""
    if mode not in ("none", "exact", "normalized"):
        raise ValueError(f"dedupe must be none, exact or normalized, got {mode!r}")
    seen_exact: set[str] = set()
    seen_norm: set[str] = set()
    keep: list[int] = []
    dropped: Counter[str] = Counter()
    for i, row in enumerate(rows):
        exact = json.dumps(row[key], sort_keys=True, ensure_ascii=False)
        norm = normalize_text(prompt_text(row[key]))
        if mode != "none" and exact in seen_exact:
            dropped["exact"] += 1
        elif mode == "normalized" and norm in seen_norm:
            dropped["normalized"] += 1
        else:
            keep.append(i)
        seen_exact.add(exact)
        seen_norm.add(norm)
    return keep, dropped


def domain_of(row: dict[str, Any], source_domain: str | None = None) -> str:
    if isinstance(row.get("domain"), str) and row["domain"]:
        return row["domain"]
    if source_domain:
        return source_domain
    reward = row.get("reward")
    names = [reward] if isinstance(reward, str) else [r.get("name") for r in reward or [] if isinstance(r, dict)]
    for name in names:
        if name in REWARD_DOMAINS:
            return REWARD_DOMAINS[name]
    return "other"


# ---------------------------------------------------------------- filters


def expected_language(row: dict[str, Any], domain: str) -> str | None:
    """The detector code the answer must be in, or None when it cannot be checked."""
    from rewards.instructions.language import normalize_language

    value = row.get("language") or (row.get("tgt_lang") if domain == "translation" else None)
    return normalize_language(value) if isinstance(value, str) else None


def filter_reason(
    candidate: dict[str, Any],
    row: dict[str, Any],
    domain: str,
    filters: Any,
    guard: Callable[[str, dict[str, Any]], str | None] | None = None,
) -> str | None:
    """Why a candidate cannot be chosen (a filter name), or None if it passes every filter."""
    text = candidate["completion"]
    if candidate.get("score") is None:
        return "unscored"
    if filters.drop_truncated and candidate.get("finish") == "length":
        return "truncated"
    if len(text.strip()) < filters.min_chars or (filters.max_chars is not None and len(text) > filters.max_chars):
        return "length"
    if filters.language:
        want = expected_language(row, domain)
        if want is not None:
            from rewards.instructions.language import detect_language

            got = detect_language(text)
            if got is not None and got != want:
                return "language"
    if guard is not None and domain == "translation" and guard(text, row) is not None:
        return "guard"
    return None


def translation_guard() -> Callable[[str, dict[str, Any]], str | None]:
    """`check(output, row) -> reason or None` from rewards.translation_guards (the guards the QE
    reward and evaluation share); a clear error where that module is missing."""
    try:
        from rewards.translation_guards import TranslationGuards
    except ImportError as exc:
        raise ValueError(
            "filters.translation_guards needs rewards/translation_guards.py, which this version "
            f"does not have ({exc}); set it to false"
        ) from None
    guards = TranslationGuards()

    def check(output: str, row: dict[str, Any]) -> str | None:
        report = guards.check(output, src=row.get("src"), tgt_lang=row.get("tgt_lang"), src_lang=row.get("src_lang"))
        return None if report.passed else report.reason

    return check


# ---------------------------------------------------------------- selection


def min_score_for(setting: float | dict[str, float], domain: str) -> float:
    if isinstance(setting, dict):
        return setting.get(domain, setting.get("default", 0.0))
    return setting


def best_and_worst(candidates: Sequence[dict[str, Any]]) -> tuple[dict | None, dict | None]:
    """(best passing candidate, worst judged candidate whose text differs from the best's)."""
    passing = [c for c in candidates if c.get("filtered") is None]
    if not passing:
        return None, None
    best = max(passing, key=lambda c: (c["score"], -c["index"]))
    norm = normalize_text(best["completion"])
    others = [c for c in candidates if c.get("score") is not None and normalize_text(c["completion"]) != norm]
    worst = min(others, key=lambda c: (c["score"], c["index"])) if others else None
    return best, worst


def select(prompt: dict[str, Any], candidates: Sequence[dict[str, Any]], cfg: Any) -> tuple[dict | None, dict | None]:
    """(SFT row or None, pair row or None) for one prompt's candidates (see module docstring)."""
    best, worst = best_and_worst(candidates)
    if best is None:
        return None, None
    row, domain = prompt["row"], prompt["domain"]
    messages = [{"role": "user", "content": row["prompt"]}] if isinstance(row["prompt"], str) else list(row["prompt"])
    meta = {"domain": domain, "source": prompt["source"], "id": prompt["id"]}
    sft = None
    if best["score"] >= min_score_for(cfg.sft_min_score, domain):
        sft = {
            "messages": messages + [{"role": "assistant", "content": best["completion"]}],
            "score": best["score"],
            "model": best["model"],
            **meta,
        }
    pair = None
    if worst is not None and best["score"] - worst["score"] >= cfg.pair_min_margin:
        pair = {
            "prompt": messages,
            "chosen": best["completion"],
            "rejected": worst["completion"],
            "score_chosen": best["score"],
            "score_rejected": worst["score"],
            "chosen_model": best["model"],
            "rejected_model": worst["model"],
            "chosen_logprob": best["logprob"],
            "rejected_logprob": worst["logprob"],
            "chosen_tokens": best["tokens"],
            "rejected_tokens": worst["tokens"],
            **meta,
        }
    return sft, pair


def apply_quota(
    rows: Sequence[dict[str, Any]],
    quota: dict[str, float],
    max_rows: int | None,
    *,
    seed: int,
    score_key: str = "score",
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rows in the quota's mix (see module docstring), in a seeded shuffled order; and the count per
    domain (0 for a domain of the quota that had no row)."""
    by_domain: dict[str, list[dict[str, Any]]] = {}
    rng = random.Random(f"{seed}:quota")
    for row in rows:
        by_domain.setdefault(row["domain"], []).append(row)
    for members in by_domain.values():
        rng.shuffle(members)  # a seeded order among equal scores
        members.sort(key=lambda r: -r[score_key])
    if not quota:
        counts = {d: len(m) for d, m in by_domain.items()}
        if max_rows is not None and sum(counts.values()) > max_rows:
            share = {d: n / sum(counts.values()) for d, n in counts.items()}
            counts = _shares(share, max_rows)
    else:
        present = {d: s for d, s in quota.items() if s > 0 and by_domain.get(d)}
        shares = {d: s / sum(present.values()) for d, s in present.items()}
        total = min((len(by_domain[d]) / s for d, s in shares.items()), default=0)
        total = int(min(total, max_rows) if max_rows is not None else total)
        counts = {d: min(n, len(by_domain[d])) for d, n in _shares(shares, total).items()}
        counts.update({d: 0 for d, s in quota.items() if s > 0 and d not in present})
    picked = [row for d, n in counts.items() for row in by_domain.get(d, [])[:n]]
    rng.shuffle(picked)
    return picked, counts


def _shares(shares: dict[str, float], total: int) -> dict[str, int]:
    """Largest-remainder rounding of shares of `total`."""
    exact = {d: s * total for d, s in shares.items()}
    counts = {d: int(v) for d, v in exact.items()}
    for d in sorted(exact, key=lambda d: (-(exact[d] - counts[d]), d))[: total - sum(counts.values())]:
        counts[d] += 1
    return counts


def quantiles(values: Iterable[float], qs: Sequence[float] = (0.1, 0.5, 0.9)) -> dict[str, float]:
    data = sorted(values)
    if not data:
        return {}
    out = {"mean": sum(data) / len(data), "min": data[0], "max": data[-1]}
    for q in qs:
        out[f"p{round(q * 100)}"] = data[min(len(data) - 1, int(q * len(data)))]
    return out
