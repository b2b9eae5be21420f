"""Who may set a reward's settings: the operator sets everything, a request only what is declared safe.

A reward's settings are its keyword parameters that are not columns (`timeout_s`,
`memory_mb`, `unsafe_no_sandbox`, `all_or_nothing`, ...). Safety and resource limits belong to
whoever runs the reward: the job config for rewards scored in the trainer, the server's start
flags or settings file for a reward server. A request to a reward server (or an RL job's
`rewards.settings` sent to one through `rewards.remote`) may only change the settings the
reward declares request-safe with `@reward(..., request_settings={"key": Setting(...)})`, within
the declared bounds. Everything else is operator-only:

    @reward("code", columns=("tests",), request_settings={"all_or_nothing": Setting(bool)})
    def code(completions, tests, *, timeout_s=5.0, all_or_nothing=False, **_): ...

    check_request(spec, {"all_or_nothing": True})    # -> {"all_or_nothing": True}
    check_request(spec, {"timeout_s": 60})           # SettingError: operator-only ...

Declare a setting request-safe only if no value within its bounds weakens isolation, raises a
resource limit or names a path, command or model to load. A reward that declares nothing
accepts no setting from a request (the safe default for plugins and plain callables).

Not covered: a reward's own validation of operator values (rewards check their settings when
called); settings passed in data rows (columns never become settings: `rewards.compose` keeps
a column named like a setting away from a reward that takes every column).
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class RewardSpec(Protocol):
    """What this module reads of a registered reward (rewards.registry.RewardSpec satisfies it;
    a protocol here keeps imports one way: the registry imports settings, never the reverse)."""

    @property
    def name(self) -> str: ...
    @property
    def fn(self) -> Callable[..., Any]: ...
    @property
    def columns(self) -> tuple[str, ...]: ...
    @property
    def optional_columns(self) -> tuple[str, ...]: ...
    @property
    def request_settings(self) -> Mapping[str, Setting]: ...


_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
_ARTICLE = {bool: "a", int: "an", float: "a", str: "a"}


class SettingError(ValueError):
    """A setting that this caller may not set, or a value outside its declared bounds."""


@dataclass(frozen=True)
class Setting:
    """A request-safe setting: its type and bounds (`ge`/`le` for numbers, `choices` for any type).

    >>> Setting(int, ge=1, le=100).check("max_chars", 5)
    5
    """

    type: type
    ge: float | None = None
    le: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"Setting type must be one of {[t.__name__ for t in _TYPES]}, got {self.type!r}")
        if self.choices is not None and not isinstance(self.choices, tuple):
            object.__setattr__(self, "choices", tuple(self.choices))

    def check(self, key: str, value: Any) -> Any:
        """The value, converted int -> float for float settings; SettingError says which bound it breaks."""
        wanted = self.type
        ok = type(value) is wanted or (wanted is float and type(value) is int)
        if not ok:
            raise SettingError(
                f"{key} must be {_ARTICLE[wanted]} {_TYPES[wanted]}, got {json.dumps(value, default=repr)}"
            )
        if wanted is float:
            value = float(value)
            if not math.isfinite(value):
                raise SettingError(f"{key} must be a finite number, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise SettingError(f"{key} must be one of {list(self.choices)}, got {value!r}")
        if self.ge is not None and value < self.ge:
            raise SettingError(f"{key} must be >= {self.ge:g}, got {value!r}")
        if self.le is not None and value > self.le:
            raise SettingError(f"{key} must be <= {self.le:g}, got {value!r}")
        return value

    def describe(self) -> dict[str, Any]:
        """JSON-schema-like description (served by GET /v1/rewards)."""
        out: dict[str, Any] = {"type": _TYPES[self.type]}
        if self.ge is not None:
            out["minimum"] = self.ge
        if self.le is not None:
            out["maximum"] = self.le
        if self.choices is not None:
            out["enum"] = list(self.choices)
        if self.doc:
            out["description"] = self.doc
        return out


def setting_names(spec: RewardSpec) -> tuple[str, ...]:
    """Every setting the reward takes: its named parameters after the first that are not columns."""
    names = dict.fromkeys(spec.request_settings)
    try:
        params = list(inspect.signature(spec.fn).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable: only the declared ones are known
        return tuple(names)
    columns = set(spec.columns) | set(spec.optional_columns)
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    for p in params[1:]:
        if p.kind in named and p.name not in columns:
            names[p.name] = None
    return tuple(names)


def operator_only(spec: RewardSpec) -> tuple[str, ...]:
    return tuple(n for n in setting_names(spec) if n not in spec.request_settings)


def check_request(spec: RewardSpec, values: Mapping[str, Any], where: str = "settings") -> dict[str, Any]:
    """Validate what a request sets for one reward; SettingError names the key and why it is refused."""
    if not isinstance(values, Mapping):
        raise SettingError(f"{where}.{spec.name}: must be an object of settings, got {type(values).__name__}")
    out = {}
    for key, value in values.items():
        place = f"{where}.{spec.name}.{key}"
        setting = spec.request_settings.get(key)
        if setting is not None:
            try:
                out[key] = setting.check(key, value)
            except SettingError as exc:
                raise SettingError(f"{place}: {exc}") from None
            continue
        allowed = sorted(spec.request_settings) or "none"
        if key in setting_names(spec):
            raise SettingError(
                f"{place}: operator-only setting of reward {spec.name!r} (safety and resource limits, paths and "
                f"commands are set when the server starts: `rlsys serve-rewards --set {spec.name}.{key}=VALUE` or "
                f"--settings FILE), not by a request; a request may set: {allowed}"
            )
        raise SettingError(f"{place}: unknown setting of reward {spec.name!r}; a request may set: {allowed}")
    return out


def check_operator(spec: RewardSpec, values: Mapping[str, Any], where: str = "settings") -> dict[str, Any]:
    """Validate the operator's settings for one reward: known keys, and declared bounds for request-safe ones.

    A reward whose function names no settings (only `**kwargs`) accepts any key: nothing to check against.
    """
    if not isinstance(values, Mapping):
        raise SettingError(f"{where}.{spec.name}: must be a mapping of settings, got {type(values).__name__}")
    known = setting_names(spec)
    out = {}
    for key, value in values.items():
        if known and key not in known:
            raise SettingError(
                f"{where}.{spec.name}.{key}: reward {spec.name!r} has no such setting; its settings: {sorted(known)}"
            )
        setting = spec.request_settings.get(key)
        out[key] = setting.check(f"{where}.{spec.name}.{key}", value) if setting is not None else value
    return out


def describe_settings(spec: RewardSpec) -> dict[str, Any]:
    return {
        "request_settings": {k: s.describe() for k, s in spec.request_settings.items()},
        "operator_settings": list(operator_only(spec)),
    }


def parse_assignments(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`["code.timeout_s=10", "code.unsafe_no_sandbox=false"]` -> {"code": {...}}; values are YAML scalars."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        name, dot, key = target.strip().rpartition(".")
        if not sep or not dot or not name or not key:
            raise SettingError(f"--set {item!r}: expected REWARD.KEY=VALUE, e.g. code.timeout_s=10")
        out.setdefault(name, {})[key] = yaml.safe_load(raw) if raw.strip() else ""
    return out


def load_settings_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """An operator settings file (YAML or JSON): `{reward_name: {key: value}}`."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SettingError(f"cannot read settings file {path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) for v in data.values()):
        raise SettingError(
            f"settings file {path}: expected {{reward_name: {{key: value}}}}, e.g. 'code: {{timeout_s: 10}}'"
        )
    return {str(name): dict(values) for name, values in data.items()}
