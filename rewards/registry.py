"""Reward registry: a small dict that refuses duplicates, plus plugin lookup.

Three ways to name a reward:
- a name registered with `@reward("name")` in this process (built-ins register on import of
  `rewards.builtin`);
- a name published by a third-party package through the entry-point group `rlsys.rewards`
  (the entry point loads a function decorated with `@reward` or a plain batched callable);
- a `package.module:function` path.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, TypeVar

from rewards.base import RewardResult, coerce
from rewards.settings import Setting

ENTRY_POINT_GROUP = "rlsys.rewards"
RewardFn = Callable[..., Sequence[Any]]
_Fn = TypeVar("_Fn", bound=RewardFn)  # `@reward` keeps the decorated function's own signature


@dataclass(frozen=True)
class RewardSpec:
    """A registered reward: the batched callable and what it needs from each row."""

    name: str
    fn: RewardFn
    columns: tuple[str, ...] = ()
    description: str = ""
    optional_columns: tuple[str, ...] = field(default=())
    request_settings: Mapping[str, Setting] = field(default_factory=dict, hash=False)
    """Settings a request to a reward server may change, with bounds (see rewards.settings)."""


_REGISTRY: dict[str, RewardSpec] = {}


def reward(
    name: str,
    *,
    columns: Sequence[str] = (),
    optional: Sequence[str] = (),
    description: str = "",
    request_settings: Mapping[str, Setting] | None = None,
) -> Callable[[_Fn], _Fn]:
    """Register a batched reward function under `name`; a second registration is an error.

    `request_settings` names the settings a request to a reward server may change, with their
    bounds; every other setting is the operator's (see `rewards.settings`).

    >>> @reward("always_one_doc", description="Scores every completion 1.")
    ... def always_one(completions, **columns):
    ...     return [RewardResult.ok(1.0) for _ in completions]
    """

    def decorate(fn: _Fn) -> _Fn:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"reward {name!r} is already registered by {_REGISTRY[name].fn.__module__}")
        doc = description or (inspect.getdoc(fn) or "").split("\n")[0]
        safe = dict(request_settings or {})
        bad = [k for k, v in safe.items() if not isinstance(v, Setting)]
        if bad:
            raise TypeError(f"reward {name!r}: request_settings {bad} must be rewards.settings.Setting objects")
        spec = RewardSpec(name, fn, tuple(columns), doc, tuple(optional), safe)
        _REGISTRY[name] = spec
        fn.reward_spec = spec  # type: ignore[attr-defined]
        return fn

    return decorate


def _load_builtins() -> None:
    importlib.import_module("rewards.builtin")


def _spec_from_object(name: str, obj: Any) -> RewardSpec:
    spec = getattr(obj, "reward_spec", None)
    if isinstance(spec, RewardSpec):
        return spec
    if not callable(obj):
        raise TypeError(f"reward {name!r} resolved to {obj!r}, which is not callable")
    return RewardSpec(name, obj, (), (inspect.getdoc(obj) or "").split("\n")[0])


def get_reward(name: str) -> RewardSpec:
    """Resolve a reward by registered name, entry point, or `package.module:function`."""
    _load_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise KeyError(f"cannot import reward {name!r}: {exc}") from exc
        return _spec_from_object(name, obj)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return _spec_from_object(name, ep.load())
            except Exception as exc:  # name the plugin, not just the import error
                raise KeyError(f"reward plugin {name!r} ({ep.value}) failed to load: {exc}") from exc
    known = ", ".join(sorted(list_rewards())) or "none"
    raise KeyError(f"unknown reward {name!r}; registered: {known}; or use 'package.module:function'")


def list_rewards() -> dict[str, RewardSpec]:
    """Every reward this process can name: built-ins, registered ones and entry points."""
    _load_builtins()
    found = dict(_REGISTRY)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in found:
            try:
                found[ep.name] = _spec_from_object(ep.name, ep.load())
            except Exception as exc:  # a broken plugin must not hide the others
                found[ep.name] = RewardSpec(ep.name, _broken(exc), (), f"failed to load: {exc}")
    return found


def _broken(exc: Exception) -> RewardFn:
    def fn(completions: Sequence[str], **_: Any) -> list[RewardResult]:
        return [RewardResult.error(f"plugin failed to load: {exc}") for _ in completions]

    return fn


def score(spec: RewardSpec, completions: Sequence[str], columns: Mapping[str, Sequence[Any]]) -> list[RewardResult]:
    """Call a reward on a batch and hold it to the interface.

    A reward that raises gives every sample status `error` with the exception as reason;
    a reward that returns the wrong number of results is an error too. Never a silent 0.
    """
    missing = [c for c in spec.columns if c not in columns]
    if missing:
        return [RewardResult.error(f"reward {spec.name!r} needs column(s) {missing}") for _ in completions]
    try:
        raw = spec.fn(list(completions), **columns)
        results = [coerce(r) for r in raw]
    except Exception as exc:
        reason = f"reward {spec.name!r} raised {type(exc).__name__}: {exc}"
        return [RewardResult.error(reason) for _ in completions]
    if len(results) != len(completions):
        reason = f"reward {spec.name!r} returned {len(results)} results for {len(completions)} samples"
        return [RewardResult.error(reason) for _ in completions]
    return results
