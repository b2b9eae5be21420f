"""IF-MT in the toy world: translation requests with 2-4 checkable rules, single- and multi-turn.

Why: Tower+'s IF-MT benchmark asks for a translation that also follows rules (dates as
DD/MM/YYYY, names kept, HTML tags in place, ...) and judges both. The toy world has no dates or
currencies, so its rules are the ones a toy sentence can carry, each checked without a judge by
a constraint type of rewards.instructions that exists today:

| rule | source | what the answer must do | constraint |
|---|---|---|---|
| name | a name replaces the subject ("Anna sees a ball.") | keep the name verbatim | `translation:glossary` {name: [name]} |
| tags | one word wrapped in `<b>...</b>` | keep the tag around the translated word | `translation:markup_preserved` |
| quotes | - | wrap the translation in double quotes | `startend:quotation` |
| end | - | end with a given word ("done", "okay") | `startend:end_checker` |
| exclaim | - | end with "!" instead of "." | `startend:end_checker` ("!") |

`end` and `exclaim` exclude each other; every item has 2 to 4 rules (name and tags come with the
source, the others are instructions). A multi-turn item asks for the translation with 2 or 3
rules in turn 1, gets the reference as the assistant turn, and adds one more rule in turn 2
("Now put it in double quotes."); earlier rules still hold. IF-MT's own rules (dates, units, currency,
quotation-mark styles, ...) are h3b's `translation:*` types; these toy rules use none of them so
the rows check on every branch.

Two row shapes (`ifmt_item` builds both):
- the IF-MT JSONL schema of rewards/instructions/ifmt.py: {"id", "source", "src_lang",
  "tgt_lang", "rules": [{"type", ..., "text"}], "reference", "turns": [{"user", "rules",
  "reference"}]} (written as `ifmt.jsonl`);
- eval / RL rows: {"id", "prompt": chat messages, "src", "src_lang", "tgt_lang", "reference",
  "constraints", "reward"}, where `constraints` lists every rule in force at the last user turn,
  so the final answer is checked against all of them (no per-turn checker needed).

Not covered: rules a judge must read (register, terminology quality), rules on the Toyish ->
English direction beyond these five, more than two user turns.
"""

from __future__ import annotations

import random
from typing import Any

NAMES = ("Anna", "Bob", "Mia", "Tom", "Lena", "Omar")
END_WORDS = ("done", "okay")
FOLLOW_UPS = {
    "quotes": "Now put it in double quotes.",
    "end": 'Now end it with the word "{word}".',
    "exclaim": "Now end it with an exclamation mark instead of a full stop.",
}


def rule_text(rule: str, arg: str | None = None) -> str:
    return {
        "name": f"Keep the name {arg} as it is.",
        "tags": "Keep the HTML tags around the same word.",
        "quotes": "Put the translation in double quotes.",
        "end": f'End with the word "{arg}".',
        "exclaim": "End the sentence with an exclamation mark.",
    }[rule]


def constraint(rule: str, arg: str | None = None) -> dict[str, Any]:
    if rule == "name":
        return {"type": "translation:glossary", "glossary": {arg: [arg]}}
    if rule == "tags":
        return {"type": "translation:markup_preserved"}
    if rule == "quotes":
        return {"type": "startend:quotation"}
    return {"type": "startend:end_checker", "end_phrase": arg if rule == "end" else "!"}


def _words(text: str) -> list[str]:
    return text[:-1].split()


def with_source_rules(
    sentence: Any, lexicon: dict[str, str], name: str | None, tag: bool, rng: random.Random
) -> tuple[str, str]:
    """The sentence pair with a name for the subject and/or one word tagged in both languages
    (the subject comes first in both word orders)."""
    en_words, toy_words = _words(sentence.english()), _words(sentence.toyish(lexicon))
    if name:
        subject = sum(1 for w in sentence.subj if w)
        en_words, toy_words = [name] + en_words[subject:], [name] + toy_words[subject:]
    if tag:
        choices = [i for i, w in enumerate(en_words) if w not in ("the", "a") and w != name]
        i = rng.choice(choices)
        word = en_words[i]
        en_words[i] = f"<b>{word}</b>"
        j = toy_words.index(lexicon[word])
        toy_words[j] = f"<b>{toy_words[j]}</b>"
    return " ".join(en_words) + ".", " ".join(toy_words) + "."


def apply_format(text: str, rules: list[tuple[str, str | None]]) -> str:
    """The answer with the format rules applied: ending first, quotes around everything."""
    for rule, arg in rules:
        if rule == "end":
            text = f"{text} {arg}"
        elif rule == "exclaim":
            text = text[:-1] + "!"
    if any(rule == "quotes" for rule, _ in rules):
        text = f'"{text}"'
    return text


def ifmt_item(
    sentence: Any,
    lexicon: dict[str, str],
    rng: random.Random,
    *,
    item_id: str,
    multi_turn: bool,
    prompt_template: str,
    names: dict[str, str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(IF-MT schema row, eval/RL row) for one sentence; see the module docstring."""
    name = rng.choice(NAMES) if rng.random() < 0.5 else None
    tag = rng.random() < 0.5 or (multi_turn and not name)  # a multi-turn item's turn 1 has 2 rules or more
    formats = ["quotes", rng.choice(["end", "exclaim"])]
    rng.shuffle(formats)
    wanted = rng.randint(2, 4)
    source_rules = [("name", name)] * bool(name) + [("tags", None)] * tag
    need = max(0, wanted - len(source_rules))
    if multi_turn:
        need = max(2, need)  # one (or more) in turn 1, one follow-up in turn 2
    chosen = [(f, rng.choice(END_WORDS) if f == "end" else None) for f in formats[:need]]
    if len(source_rules) + len(chosen) < 2:
        chosen = [(f, rng.choice(END_WORDS) if f == "end" else None) for f in formats]
    en, toy = with_source_rules(sentence, lexicon, name, tag, rng)
    first = source_rules + (chosen[:-1] if multi_turn else chosen)
    follow = chosen[-1:] if multi_turn else []
    src_lang, tgt_lang = "en", "qaa"
    request = prompt_template.format(src_name=names[src_lang], tgt_name=names[tgt_lang], src=en)
    request += "\nRules:\n" + "\n".join(f"- {rule_text(r, a)}" for r, a in first)
    reference = apply_format(toy, [r for r in first if r[0] not in ("name", "tags")])
    schema = {
        "id": item_id,
        "source": en,
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
        "rules": [{**constraint(r, a), "text": rule_text(r, a)} for r, a in first],
        "reference": reference,
        "instruction": request,
    }
    messages = [{"role": "user", "content": request}]
    final = reference
    if follow:
        rule, arg = follow[0]
        user = FOLLOW_UPS[rule].format(word=arg)
        final = apply_format(toy, [r for r in first + follow if r[0] not in ("name", "tags")])
        schema["turns"] = [{"user": user, "rules": [constraint(rule, arg)], "reference": final}]
        messages += [{"role": "assistant", "content": reference}, {"role": "user", "content": user}]
    row = {
        "id": item_id,
        "prompt": messages,
        "src": en,
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
        "reference": final,
        "constraints": [constraint(r, a) for r, a in first + follow],
        "reward": "instructions",
    }
    return schema, row
