"""Turn one validated row into tokens: CPT text, parallel pairs, chat SFT, preference pairs.

Why: each stage before RL needs its rows as token ids with the right loss mask, and the rules
(which tokens carry loss, how a translation pair is written, how a chat is rendered) should live
in one place shared by CPT, SFT and preference optimization.

Kinds (pick with `make_formatter(kind, tokenizer, ...)`):
- "text": `{"text"}` -> [bos] + text + [eos], loss on every token.
- "parallel": `{"src","tgt","src_lang","tgt_lang"}` -> one CPT document "prompt + translation"
  (templates.py picks the phrasing); loss on everything (`loss_on="all"`) or the target only.
- "parallel_chat": the same pair as a user turn (the prompt) and an assistant turn (the target).
- "chat": `{"messages": [{"role","content"}, ...]}` rendered with the tokenizer's chat template;
  labels are -100 except on assistant tokens (every assistant turn, multi-turn included).
- "preference": `{"prompt": str|messages, "chosen": str|messages, "rejected": ...,
  optional "score_chosen"/"score_rejected"}` -> prompt ids + two completions.

Assistant-token masks (`mask_method`):
- "prefix" (works with any template): for assistant message i, its tokens are those between
  the tokenization of messages[:i] rendered with the generation prompt and of messages[:i+1].
  Each prefix's tokens must equal the start of the whole conversation's tokens; a template that
  rewrites earlier turns (e.g. one that strips past reasoning) or a tokenizer that merges
  across the boundary is reported as an error, never masked wrongly. The span includes the
  template's end-of-turn tokens and whatever the template writes right after them (ChatML's
  "\\n"), so the model learns to stop.
- "generation": the template's `{% generation %}` blocks via `return_assistant_tokens_mask`.
- "auto" (default): "generation" when the template has such a block, else "prefix".
Text is tokenized with `add_special_tokens=False`: a chat template writes its own BOS.

Preference pairs: a string prompt is a user turn and a string completion an assistant turn when
the tokenizer has a chat template; without one, strings are used raw ([bos] + prompt,
completion + [eos]). Completions given as messages must be assistant messages. The prompt's
tokens must be a prefix of prompt + completion (checked), so the completion ids are exactly what
the model sees after the prompt.

Not covered: tool calls / non-string (multimodal) content, per-turn loss weights, templates
that need extra render arguments (pass a wrapped tokenizer), pairs with different prompts.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import jinja2

from pretrain_sft.data import DataError
from pretrain_sft.examples import IGNORE_INDEX, Example, PreferenceExample, TokenizedExample
from pretrain_sft.templates import language_name, translation_prompt, translation_text

ROLES = ("system", "user", "assistant", "tool")
MASK_METHODS = ("auto", "prefix", "generation")
_GENERATION_BLOCK = re.compile(r"{%-?\s*generation\s*-?%}")


# ---- validation -------------------------------------------------------------------------


def require_text(row: Mapping[str, Any], field: str) -> str:
    """row[field] as a non-empty string, or DataError naming the field."""
    value = row.get(field)
    if value is None:
        raise DataError("missing", field)
    if not isinstance(value, str):
        raise DataError(f"must be a string, got {type(value).__name__}", field)
    if not value.strip():
        raise DataError("empty", field)
    return value


def validate_messages(messages: Any, field: str = "messages", *, need_assistant: bool = True) -> list[dict]:
    """Check a list of {"role","content"} dicts; returns copies without None-valued keys."""
    if messages is None:
        raise DataError("missing", field)
    if not isinstance(messages, list):
        raise DataError(f"must be a list of messages, got {type(messages).__name__}", field)
    if not messages:
        raise DataError("empty list of messages", field)
    clean = []
    for i, message in enumerate(messages):
        here = f"{field}[{i}]"
        if not isinstance(message, dict):
            raise DataError(f"must be an object with 'role' and 'content', got {type(message).__name__}", here)
        role, content = message.get("role"), message.get("content")
        if role is None:
            raise DataError("missing", f"{here}.role")
        if role not in ROLES:
            raise DataError(f"unknown role {role!r}; expected one of {ROLES}", f"{here}.role")
        if content is None:
            raise DataError("missing", f"{here}.content")
        if not isinstance(content, str):
            raise DataError(f"must be a string, got {type(content).__name__}", f"{here}.content")
        clean.append({key: value for key, value in message.items() if value is not None})
    if need_assistant and not any(m["role"] == "assistant" for m in clean):
        raise DataError("no assistant message: nothing to train on", field)
    if need_assistant and clean[0]["role"] == "assistant":
        raise DataError("a conversation cannot start with an assistant turn", f"{field}[0].role")
    return clean


# ---- tokenizer helpers --------------------------------------------------------------------


def encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def render(tokenizer, messages: list[dict], *, generation_prompt: bool, field: str = "messages") -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the tokenizer has no chat template; chat and message data need one")
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    except jinja2.TemplateError as err:
        raise DataError(f"the chat template refused these messages: {err}", field) from None


def _specials(tokenizer, add_bos: bool, add_eos: bool) -> tuple[list[int], list[int]]:
    bos = [tokenizer.bos_token_id] if add_bos and tokenizer.bos_token_id is not None else []
    eos = [tokenizer.eos_token_id] if add_eos and tokenizer.eos_token_id is not None else []
    return bos, eos


def _prefix_length(tokenizer, prefix: list[dict], full_ids: list[int], generation_prompt: bool, field: str) -> int:
    ids = encode(tokenizer, render(tokenizer, prefix, generation_prompt=generation_prompt, field=field))
    if full_ids[: len(ids)] != ids:
        differ = next((k for k, (a, b) in enumerate(zip(ids, full_ids)) if a != b), min(len(ids), len(full_ids)))
        raise DataError(
            f"the first {len(prefix)} messages do not tokenize as a prefix of the whole conversation "
            f"(first difference at token {differ}): the chat template rewrites earlier turns or the "
            "tokenizer merges across the turn boundary; use a template with {% generation %} "
            "blocks and mask_method='generation'",
            field,
        )
    return len(ids)


# ---- chat ---------------------------------------------------------------------------------


def _chat_by_prefix(messages: list[dict], tokenizer, field: str) -> tuple[list[int], list[bool]]:
    ids = encode(tokenizer, render(tokenizer, messages, generation_prompt=False, field=field))
    mask = [False] * len(ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = _prefix_length(tokenizer, messages[:i], ids, True, f"{field}[{i}]")
        end = _prefix_length(tokenizer, messages[: i + 1], ids, False, f"{field}[{i}]")
        mask[start:end] = [True] * (end - start)
    return ids, mask


def _chat_by_generation(messages: list[dict], tokenizer, field: str) -> tuple[list[int], list[bool]]:
    render(tokenizer, messages, generation_prompt=False, field=field)  # template errors as DataError
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    return list(out["input_ids"]), [bool(m) for m in out["assistant_masks"]]


def tokenize_chat(
    messages: list[dict], tokenizer, *, mask_method: str = "auto", field: str = "messages"
) -> TokenizedExample:
    """Validated messages -> ids with labels only on assistant tokens (see module docstring)."""
    if mask_method not in MASK_METHODS:
        raise ValueError(f"mask_method must be one of {MASK_METHODS}, got {mask_method!r}")
    template = getattr(tokenizer, "chat_template", None) or ""
    use_generation = mask_method == "generation" or (mask_method == "auto" and _GENERATION_BLOCK.search(template))
    build = _chat_by_generation if use_generation else _chat_by_prefix
    ids, mask = build(messages, tokenizer, field)
    if not any(mask):
        raise DataError("no assistant tokens found after rendering (does the template mark them?)", field)
    labels = [token if keep else IGNORE_INDEX for token, keep in zip(ids, mask)]
    return TokenizedExample(ids, labels, field)


def format_chat(row: Mapping[str, Any], tokenizer, *, mask_method: str = "auto") -> TokenizedExample:
    return tokenize_chat(validate_messages(row.get("messages")), tokenizer, mask_method=mask_method)


# ---- CPT text and parallel pairs -------------------------------------------------------------


def format_text(row: Mapping[str, Any], tokenizer, *, add_bos: bool = True, add_eos: bool = True) -> TokenizedExample:
    bos, eos = _specials(tokenizer, add_bos, add_eos)
    ids = bos + encode(tokenizer, require_text(row, "text")) + eos
    return TokenizedExample(ids, list(ids), "text")


def parallel_prompt(
    row: Mapping[str, Any], *, seed: int = 0, names: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """(prompt, target) for a parallel row; language errors name the field."""
    src, tgt = require_text(row, "src"), require_text(row, "tgt")
    langs = {field: require_text(row, field) for field in ("src_lang", "tgt_lang")}
    for field, code in langs.items():
        try:
            language_name(code, names)
        except ValueError as err:
            raise DataError(str(err), field) from None
    return translation_prompt(src, langs["src_lang"], langs["tgt_lang"], seed=seed, names=names), tgt


def format_parallel(
    row: Mapping[str, Any],
    tokenizer,
    *,
    seed: int = 0,
    loss_on: str = "all",
    names: Mapping[str, str] | None = None,
    add_bos: bool = True,
    add_eos: bool = True,
) -> TokenizedExample:
    """A parallel pair as one CPT document; `loss_on="target"` masks the prompt."""
    if loss_on not in ("all", "target"):
        raise ValueError(f"loss_on must be 'all' or 'target', got {loss_on!r}")
    prompt, target = translation_text(*parallel_prompt(row, seed=seed, names=names))
    bos, eos = _specials(tokenizer, add_bos, add_eos)
    head, tail = bos + encode(tokenizer, prompt), encode(tokenizer, target) + eos
    head_labels = list(head) if loss_on == "all" else [IGNORE_INDEX] * len(head)
    return TokenizedExample(head + tail, head_labels + tail, "src/tgt")


def format_parallel_chat(
    row: Mapping[str, Any],
    tokenizer,
    *,
    seed: int = 0,
    names: Mapping[str, str] | None = None,
    mask_method: str = "auto",
) -> TokenizedExample:
    prompt, target = parallel_prompt(row, seed=seed, names=names)
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": target}]
    return tokenize_chat(messages, tokenizer, mask_method=mask_method, field="src/tgt")


# ---- preference pairs ---------------------------------------------------------------------


def _as_messages(value: Any, field: str, role: str) -> list[dict]:
    if isinstance(value, str):
        if not value.strip():
            raise DataError("empty", field)
        return [{"role": role, "content": value}]
    messages = validate_messages(value, field, need_assistant=False)
    if role == "assistant" and any(m["role"] != "assistant" for m in messages):
        raise DataError("a completion given as messages must contain only assistant messages", field)
    return messages


def _score(row: Mapping[str, Any], field: str) -> float | None:
    value = row.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"must be a number, got {type(value).__name__}", field)
    return float(value)


def _completion_ids(
    tokenizer, prompt: list[dict], prompt_ids: list[int], completion: list[dict], field: str
) -> list[int]:
    full = encode(tokenizer, render(tokenizer, prompt + completion, generation_prompt=False, field=field))
    _prefix_length(tokenizer, prompt, full, True, field)
    return full[len(prompt_ids) :]


def format_preference(
    row: Mapping[str, Any], tokenizer, *, add_bos: bool = True, add_eos: bool = True
) -> PreferenceExample:
    for field in ("prompt", "chosen", "rejected"):
        if row.get(field) is None:
            raise DataError("missing", field)
    if row["chosen"] == row["rejected"]:
        raise DataError("identical to 'chosen': the pair carries no preference", "rejected")
    scores = _score(row, "score_chosen"), _score(row, "score_rejected")
    raw = all(isinstance(row[f], str) for f in ("prompt", "chosen", "rejected"))
    if raw and not getattr(tokenizer, "chat_template", None):
        bos, eos = _specials(tokenizer, add_bos, add_eos)
        prompt_ids = bos + encode(tokenizer, require_text(row, "prompt"))
        chosen, rejected = (encode(tokenizer, require_text(row, f)) + eos for f in ("chosen", "rejected"))
    else:
        prompt = _as_messages(row["prompt"], "prompt", "user")
        prompt_ids = encode(tokenizer, render(tokenizer, prompt, generation_prompt=True, field="prompt"))
        chosen, rejected = (
            _completion_ids(tokenizer, prompt, prompt_ids, _as_messages(row[f], f, "assistant"), f)
            for f in ("chosen", "rejected")
        )
    if chosen == rejected:
        raise DataError("tokenizes to the same ids as 'chosen'", "rejected")
    return PreferenceExample(prompt_ids, chosen, rejected, *scores)


# ---- choosing a formatter -------------------------------------------------------------------

FORMATTERS: dict[str, Callable[..., Example]] = {
    "text": format_text,
    "parallel": format_parallel,
    "parallel_chat": format_parallel_chat,
    "chat": format_chat,
    "preference": format_preference,
}


def make_formatter(kind: str, tokenizer, **options: Any) -> Callable[[Mapping[str, Any]], Example]:
    """`row -> example` for a data kind; `options` are the keyword arguments of that formatter."""
    if kind not in FORMATTERS:
        raise ValueError(f"unknown data kind {kind!r}; expected one of {sorted(FORMATTERS)}")
    return functools.partial(FORMATTERS[kind], tokenizer=tokenizer, **options)
