"""Constraint specs: the check registry, argument validation, and parsing a row's constraints.

A row's `constraints` value is a list (or a JSON string of a list) whose items are either
`{"type": "keywords:existence", "keywords": ["cat"]}` or IFEval's
`{"id": "keywords:existence", "kwargs": {"keywords": ["cat"]}}`. Arguments whose value is None
are dropped first (the Hugging Face IFEval export lists every argument name with null for the
unused ones); any other unknown argument is an error, so a typo never silently passes.

Every problem raises `ConstraintError` whose message names the constraint index and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewards.instructions.language import LANGUAGES, normalize_language

RELATIONS = ("less than", "at least")


class ConstraintError(ValueError):
    """A constraint that cannot be checked: unknown type, missing or bad argument."""


def _as_list(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") and not isinstance(value, str) else value


def _scalar(value: Any) -> Any:
    """numpy scalars (from Parquet/pandas rows) as Python values."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str | bytes) else value


def _int(value: Any) -> int:
    value = _scalar(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def _positive_number(value: Any) -> float:
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"expected a positive number, got {value!r}")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _text_list(value: Any) -> list[str]:
    value = _as_list(value)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"expected a non-empty list of strings, got {value!r}")
    return [_text(v) for v in value]


def _relation(value: Any) -> str:
    if value not in RELATIONS:
        raise ValueError(f"expected one of {list(RELATIONS)}, got {value!r}")
    return value


def _language(value: Any) -> str:
    code = normalize_language(_text(value))
    if code is None:
        raise ValueError(f"unsupported language {value!r}; supported codes: {', '.join(sorted(LANGUAGES))}")
    return code


def _letter(value: Any) -> str:
    letter = _text(value).strip()
    if len(letter) != 1:
        raise ValueError(f"expected a single character, got {value!r}")
    return letter.lower()


def _glossary(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"expected a non-empty mapping of source term -> target term(s), got {value!r}")
    return {_text(src): _text_list(tgt) for src, tgt in value.items()}


def _bool(value: Any) -> bool:
    value = _scalar(value)
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


KINDS: dict[str, Callable[[Any], Any]] = {
    "int": _int,
    "positive_number": _positive_number,
    "str": _text,
    "str_list": _text_list,
    "relation": _relation,
    "language": _language,
    "letter": _letter,
    "glossary": _glossary,
    "bool": _bool,
}


@dataclass(frozen=True)
class Arg:
    """One argument of a check. `column` names a row column used when the argument is absent."""

    name: str
    kind: str
    required: bool = True
    column: str | None = None


@dataclass(frozen=True)
class Check:
    name: str
    fn: Callable[..., bool]
    args: tuple[Arg, ...] = ()


CHECKS: dict[str, Check] = {}


def check(name: str, *args: Arg) -> Callable[[Callable[..., bool]], Callable[..., bool]]:
    """Register `fn(response, **args) -> bool` as the checker for constraint type `name`."""

    def decorate(fn: Callable[..., bool]) -> Callable[..., bool]:
        if name in CHECKS:
            raise ValueError(f"constraint type {name!r} is registered twice")
        CHECKS[name] = Check(name, fn, args)
        return fn

    return decorate


@dataclass(frozen=True)
class Constraint:
    """A validated constraint: its index in the row, its type and its parsed arguments.

    Arguments that may come from a row column (`src`, `prompt`) are filled in by
    `resolve_args` when the constraint does not give them.
    """

    index: int
    type: str
    args: dict[str, Any] = field(default_factory=dict)


def _split_item(index: int, item: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(item, Mapping):
        raise ConstraintError(f"constraint {index}: expected an object, got {type(item).__name__}")
    name = item.get("type", item.get("id"))
    if not isinstance(name, str) or not name:
        raise ConstraintError(f"constraint {index}: field 'type' (or 'id') must name the constraint type")
    kwargs = item.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise ConstraintError(f"constraint {index} ({name}): field 'kwargs' must be an object")
    extra = {k: v for k, v in item.items() if k not in ("type", "id", "kwargs")}
    clash = sorted(set(extra) & set(kwargs))
    if clash:
        raise ConstraintError(f"constraint {index} ({name}): argument {clash[0]!r} given twice")
    return name, {k: v for k, v in {**kwargs, **extra}.items() if v is not None}


def parse_constraint(index: int, item: Any) -> Constraint:
    name, raw = _split_item(index, item)
    spec = CHECKS.get(name)
    if spec is None:
        raise ConstraintError(f"constraint {index}: unknown type {name!r}; known: {', '.join(sorted(CHECKS))}")
    known = {a.name for a in spec.args}
    unknown = sorted(set(raw) - known)
    if unknown:
        expected = ", ".join(sorted(known)) or "no arguments"
        raise ConstraintError(f"constraint {index} ({name}): unknown argument {unknown[0]!r}; expected {expected}")
    args: dict[str, Any] = {}
    for arg in spec.args:
        if arg.name in raw:
            try:
                args[arg.name] = KINDS[arg.kind](raw[arg.name])
            except ValueError as exc:
                raise ConstraintError(f"constraint {index} ({name}): field {arg.name!r}: {exc}") from None
        elif arg.required and arg.column is None:
            raise ConstraintError(f"constraint {index} ({name}): missing field {arg.name!r}")
    return Constraint(index, name, args)


def resolve_args(constraint: Constraint, columns: Mapping[str, Any]) -> dict[str, Any]:
    """The constraint's arguments plus those taken from row columns (`columns`: name -> value)."""
    args = dict(constraint.args)
    for arg in CHECKS[constraint.type].args:
        if arg.name in args or arg.column is None:
            continue
        value = columns.get(arg.column)
        where = f"constraint {constraint.index} ({constraint.type})"
        if value is None or (isinstance(value, str) and not value.strip()):
            if arg.required:
                raise ConstraintError(f"{where}: missing field {arg.name!r} and the row has no {arg.column!r} value")
            continue
        try:
            args[arg.name] = KINDS[arg.kind](value)
        except ValueError as exc:
            raise ConstraintError(f"{where}: column {arg.column!r} used as field {arg.name!r}: {exc}") from None
    return args


def parse_constraints(value: Any) -> list[Constraint]:
    """Validate a row's constraints (list, tuple or JSON string of a list)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConstraintError(f"constraints: not valid JSON ({exc})") from None
    value = _as_list(value)
    if isinstance(value, Mapping):
        raise ConstraintError("constraints: expected a list of constraint objects, got one object")
    if not isinstance(value, Sequence):
        raise ConstraintError(f"constraints: expected a list, got {type(value).__name__}")
    return [parse_constraint(i, item) for i, item in enumerate(value)]


def constraints_from_ifeval(instruction_id_list: Sequence[str], kwargs: Sequence[Mapping[str, Any]]) -> list[dict]:
    """IFEval's two columns (`instruction_id_list`, `kwargs`) as one `constraints` value."""
    if len(instruction_id_list) != len(kwargs):
        raise ConstraintError(f"instruction_id_list has {len(instruction_id_list)} items but kwargs has {len(kwargs)}")
    return [{"id": i, "kwargs": dict(k or {})} for i, k in zip(instruction_id_list, kwargs)]
