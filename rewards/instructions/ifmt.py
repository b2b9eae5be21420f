"""Load IF-MT-style data (translation with checkable rules) as RL / eval rows with constraints.

Why: IF-MT (Tower+) pairs a source text with 2-4 objectively checkable rules and a reference
translation. The released data (Unbabel/IF-MT-en-zh) states its rules as free text inside an
LLM-written prompt; to train and evaluate on such data without a judge the rules must be typed.
This module reads a JSONL file whose rows name their rules as constraint types of
`rewards.instructions` and turns each into a row that `rlsys train` and `rlsys eval` read.

Input schema (one JSON object per line; blank lines are skipped):

| field | required | meaning |
|---|---|---|
| `source` (or `src`) | yes | the text to translate |
| `src_lang`, `tgt_lang` | yes | language tags (`en`, `pt-PT`, `es-419`, `zh-Hans`) |
| `rules` | yes | 2-4 constraint objects, e.g. `{"type": "translation:currency", "rate": 0.92, "target": "EUR"}`; each may carry `text`, the wording shown to the model (default wording exists for the `translation:*` rule types, see `RULE_TEXT`) |
| `reference` | no | a translation that follows the rules (eval chrF/COMET; the assistant turn before a follow-up) |
| `instruction` | no | the whole user request; default: the Tower+ request with a "Rules:" list (`ifmt_prompt`) |
| `turns` | no | follow-up user turns: `[{"user": "Now keep it under 30 words.", "rules": [...], "reference": "..."}]` |
| `id` | no | a row id (default: `<file> line <n>`) |
| `meta` | no | anything, copied as is |

Output row: `{"id", "prompt": [chat messages], "src", "src_lang", "tgt_lang", "reference",
"constraints", "reward"}` plus `turn_constraints` for rows with `turns`. Single-turn rows put
their rules in `constraints`; multi-turn rows put each turn's rules in `turn_constraints` (rules
persist into later turns unless `"persist": false`; see `conversation`). `extra_constraints`
(default: `translation:target_language`) are added as conversation-level constraints, so that a
reply in the wrong language cannot earn the rule reward (pass `()` to score the rules alone, as
IF-MT's judge does).

Errors (`IFMTError`) name the file, the line and the field, as rlsys.core.data's do, e.g.
`data.jsonl line 3, field 'rules': constraint 1 (translation:currency): field 'rate': expected
a positive number, got -1`.

Not covered: converting IF-MT's free-text rules into typed ones (a rule without a matching
constraint type, e.g. "use formal register", needs a judge), document-level sources.

    python -m rewards.instructions.ifmt in.jsonl out.jsonl    # convert, for data.path of a config
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, overload

from rewards.instructions.spec import ConstraintError, parse_constraint
from rewards.instructions.translation_rules import QUOTE_STYLES, quote_styles
from rewards.languages import language_name, towerplus_prompt

FIELDS = frozenset(
    {"id", "source", "src", "src_lang", "tgt_lang", "rules", "reference", "instruction", "turns", "meta"}
)
TURN_FIELDS = frozenset({"user", "rules", "reference"})
RULE_KEYS = ("text", "persist")  # rule keys that are not constraint arguments


class IFMTError(ValueError):
    """A bad IF-MT row; the message names the file, the line and the field."""


def _quotes(rule: Mapping[str, Any], tgt_lang: str) -> str:
    styles = [rule["style"]] if rule.get("style") else list(quote_styles(rule.get("language") or tgt_lang))
    marks = " or ".join("{}…{}".format(*QUOTE_STYLES[s]) for s in styles) or "the target language's"
    return f"Use {marks} quotation marks."


RULE_TEXT: dict[str, Any] = {
    "translation:date_format": lambda r, _: f"Write every date as {r.get('format', 'DD/MM/YYYY')}.",
    "translation:time_24h": lambda r, _: "Write times in the 24-hour format (e.g. 15:30).",
    "translation:metric_units": lambda r, _: "Convert imperial units to metric units.",
    "translation:celsius": lambda r, _: "Convert temperatures from Fahrenheit to Celsius.",
    "translation:currency": lambda r, _: (
        f"Convert amounts in {r.get('source', 'USD')} to {r['target']} at 1 {r.get('source', 'USD')} = {r['rate']} {r['target']}."
    ),
    "translation:proper_nouns": lambda r, _: "Keep these names exactly as written: " + ", ".join(r["names"]) + ".",
    "translation:quotation_marks": _quotes,
    "translation:decimal_comma": lambda r, _: "Use a comma as the decimal separator.",
    "translation:html_tags_kept": lambda r, _: "Keep every HTML tag and its attributes unchanged and in place.",
    "translation:max_characters": lambda r, _: f"Use at most {r['max_chars']} characters.",
    "translation:glossary": lambda r, _: (
        "Use these terms: " + "; ".join(f"{k} -> {v}" for k, v in r["glossary"].items()) + "."
    ),
    "translation:placeholders_preserved": lambda r, _: "Keep every placeholder, URL and number as in the source.",
}


def ifmt_prompt(source: str, src_lang: str, tgt_lang: str, rules: Sequence[str]) -> str:
    """The Tower+ translation request with the rules listed after its first line (our choice)."""
    head, _, rest = towerplus_prompt(source, src_lang, tgt_lang).partition("\n")
    listed = "\n".join(f"- {text}" for text in rules)
    return f"{head}\nRules:\n{listed}\n{rest}" if rules else f"{head}\n{rest}"


@overload
def _text(record: Mapping[str, Any], key: str, where: str, required: Literal[True] = ..., prefix: str = "") -> str: ...
@overload
def _text(record: Mapping[str, Any], key: str, where: str, required: bool, prefix: str = "") -> str | None: ...
def _text(record: Mapping[str, Any], key: str, where: str, required: bool = True, prefix: str = "") -> str | None:
    value = record.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise IFMTError(f"{where}, field {prefix + key!r}: must be a non-empty string, got {value!r}")
    return value


def _rules(
    value: Any, where: str, field: str, tgt_lang: str, count: tuple[int, int | None]
) -> tuple[list[dict], list[str]]:
    """(constraints, rule texts) of a `rules` list; each rule validated as a constraint."""
    if not isinstance(value, list):
        raise IFMTError(f"{where}, field {field!r}: must be a list of rule objects, got {type(value).__name__}")
    low, high = count
    if len(value) < low or (high is not None and len(value) > high):
        bound = f"{low} to {high}" if high is not None else f"at least {low}"
        raise IFMTError(
            f"{where}, field {field!r}: {len(value)} rules; IF-MT rows have {bound} (see min_rules/max_rules)"
        )
    constraints, texts = [], []
    for i, rule in enumerate(value):
        if not isinstance(rule, Mapping):
            raise IFMTError(f"{where}, field {field!r}: rule {i} must be an object, got {type(rule).__name__}")
        constraint = {k: v for k, v in rule.items() if k not in RULE_KEYS}
        try:
            parsed = parse_constraint(i, constraint)
        except ConstraintError as exc:
            raise IFMTError(f"{where}, field {field!r}: {exc}") from None
        text = rule.get("text")
        if text is None:
            if parsed.type not in RULE_TEXT:
                raise IFMTError(
                    f"{where}, field {field!r}: rule {i} ({parsed.type}) needs a 'text': no default wording for this type"
                )
            text = RULE_TEXT[parsed.type](parsed.args, tgt_lang)
        elif not isinstance(text, str) or not text.strip():
            raise IFMTError(f"{where}, field {field!r}: rule {i}: 'text' must be a non-empty string")
        constraints.append({k: v for k, v in rule.items() if k != "text"})
        texts.append(text)
    return constraints, texts


def _turns(
    value: Any, where: str, previous: str | None, tgt_lang: str
) -> tuple[list[dict[str, str]], list[list[dict]], str | None]:
    """Messages after the first user turn, the rules of each follow-up, and the last reference."""
    if not isinstance(value, list) or not value:
        raise IFMTError(f"{where}, field 'turns': must be a non-empty list of {{user, rules?, reference?}} objects")
    messages: list[dict[str, str]] = []
    rules: list[list[dict]] = []
    for k, turn in enumerate(value):
        field = f"turns[{k}]"
        if not isinstance(turn, Mapping):
            raise IFMTError(f"{where}, field {field!r}: must be an object")
        unknown = sorted(set(turn) - TURN_FIELDS)
        if unknown:
            raise IFMTError(f"{where}, field {field!r}: unknown field {unknown[0]!r}; expected {sorted(TURN_FIELDS)}")
        if previous is None:
            where_ref = "'reference'" if k == 0 else f"'turns[{k - 1}].reference'"
            raise IFMTError(f"{where}, field {field!r}: follows a turn without a reply: give {where_ref}")
        user = _text(turn, "user", where, prefix=f"{field}.")
        constraints, _ = _rules(turn.get("rules", []), where, f"{field}.rules", tgt_lang, (0, None))
        messages += [{"role": "assistant", "content": previous}, {"role": "user", "content": user}]
        rules.append(constraints)
        previous = _text(turn, "reference", where, required=False, prefix=f"{field}.")
    return messages, rules, previous


def ifmt_row(
    record: Any,
    where: str,
    *,
    reward: Any = "instructions",
    min_rules: int = 2,
    max_rules: int | None = 4,
    extra_constraints: Sequence[str] = ("translation:target_language",),
) -> dict[str, Any]:
    """One IF-MT record as an RL / eval row (see the module docstring); `where` names it in errors."""
    if not isinstance(record, Mapping):
        raise IFMTError(f"{where}: each line must be a JSON object, got {type(record).__name__}")
    unknown = sorted(set(record) - FIELDS)
    if unknown:
        raise IFMTError(f"{where}, field {unknown[0]!r}: unknown field; expected {', '.join(sorted(FIELDS))}")
    source = _text(record, "source" if "source" in record else "src", where)
    langs = {key: _text(record, key, where) for key in ("src_lang", "tgt_lang")}
    for key, tag in langs.items():
        try:
            language_name(tag)  # type: ignore[arg-type]
        except ValueError as exc:
            raise IFMTError(f"{where}, field {key!r}: {exc}") from None
    src_lang, tgt_lang = langs["src_lang"], langs["tgt_lang"]
    constraints, texts = _rules(record.get("rules"), where, "rules", tgt_lang, (min_rules, max_rules))  # type: ignore[arg-type]
    reference = _text(record, "reference", where, required=False)
    instruction = _text(record, "instruction", where, required=False)
    prompt = [{"role": "user", "content": instruction or ifmt_prompt(source, src_lang, tgt_lang, texts)}]  # type: ignore[arg-type]
    extra = [{"type": t} for t in extra_constraints]
    single = [{k: v for k, v in c.items() if k != "persist"} for c in constraints]  # one turn: nothing to persist into
    row: dict[str, Any] = {
        "id": record.get("id", where),
        "prompt": prompt,
        "src": source,
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
        "reference": reference,
        "constraints": extra + single,
        "reward": reward,
    }
    if record.get("turns") is not None:
        messages, turn_rules, last_reference = _turns(record["turns"], where, reference, tgt_lang)  # type: ignore[arg-type]
        row.update(
            prompt=prompt + messages,
            constraints=extra,
            turn_constraints=[constraints, *turn_rules],
            reference=last_reference,
        )
    if "meta" in record:
        row["meta"] = record["meta"]
    return row


def load_ifmt(path: str | Path, **options: Any) -> list[dict[str, Any]]:
    """Every row of an IF-MT-style JSONL file as an RL / eval row; options as for `ifmt_row`."""
    path = Path(path)
    if not path.is_file():
        raise IFMTError(f"{path}: file not found")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path} line {line_no}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise IFMTError(f"{where}: not valid JSON: {exc.msg}") from None
            rows.append(ifmt_row(record, where, **options))
    if not rows:
        raise IFMTError(f"{path}: no rows")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rewards.instructions.ifmt", description=__doc__.split("\n")[0])
    parser.add_argument("input", help="IF-MT-style JSONL (schema in the module docstring)")
    parser.add_argument("output", help="JSONL of RL / eval rows")
    parser.add_argument("--reward", default="instructions", help="reward name for every row (default: instructions)")
    parser.add_argument("--rules-only", action="store_true", help="do not add the target-language constraint")
    args = parser.parse_args(argv)
    rows = load_ifmt(
        args.input, reward=args.reward, extra_constraints=() if args.rules_only else ("translation:target_language",)
    )
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    print(f"{len(rows)} rows -> {args.output}")


if __name__ == "__main__":
    main()
