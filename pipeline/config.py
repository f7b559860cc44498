"""Typed configuration: turn a params section (a plain dict) into a frozen dataclass.

Every stage calls `load_section(Cls, params, "section")`. Unknown keys, wrong types and
out-of-range values fail here, naming the key path and what is allowed, never deep inside
a training step.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, Mapping, TypeVar

T = TypeVar("T")

# the demo's teachers (one copy for every stage): the stores `embed.teachers` names, the heads of `train.teachers`
# and the `evaluate.teachers` rows; the cluster index balances the first one's space joint with DEFAULT_JOINT_TEACHERS
DEFAULT_TEACHERS: tuple[str, ...] = ("aisfx", "resemblyzer", "crepe")
# their loss weights in `train.teachers` (docs/blind-spots.md: aisfx + resemblyzer 2:1, crepe tiny weighted as
# resemblyzer)
DEFAULT_TEACHER_WEIGHTS: tuple[float, ...] = (2.0, 1.0, 1.0)
# clustered with the first teacher (crepe's pitch space is learnt from, not balanced over, as in the rows that chose it)
DEFAULT_JOINT_TEACHERS: tuple[str, ...] = ("resemblyzer",)


class ConfigError(ValueError):
    """A params value is missing, unknown, of the wrong type or out of range."""


def check(condition: bool, path: str, message: str) -> None:
    """Raise ConfigError for `path` unless `condition` holds (used in __post_init__ checks)."""
    if not condition:
        raise ConfigError(f"{path}: {message}")


def parse(cls: type[T], data: Any, path: str) -> T:
    """Build dataclass `cls` from mapping `data`; `path` names the section in messages."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name in data:
            values[name] = _coerce(hints[name], data[name], f"{path}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{path}.{name}: required key is missing")
    try:
        return cls(**values)
    except ConfigError as exc:
        raise _qualified(exc, path) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _qualified(exc: ConfigError, path: str) -> ConfigError:
    """`exc` naming its full key path: __post_init__ checks often name only `field` or `<last part>.field`."""
    key, sep, rest = str(exc).partition(": ")
    parent, _, last = path.rpartition(".")
    if not sep or key == path or key.startswith(path + "."):
        return exc
    if key.isidentifier():
        return ConfigError(f"{path}.{key}: {rest}")
    if key.split(".")[0] == last:  # `probe.seeds` inside `evaluate.probe` (a bare `probe` path returned above)
        return ConfigError(f"{parent}.{key}: {rest}")
    return exc


def load_section(cls: type[T], params: Mapping[str, Any], section: str) -> T:
    """Parse `params[section]` (a missing section means all defaults)."""
    return parse(cls, params.get(section), section)


def to_dict(obj: Any) -> Any:
    """A dataclass (possibly nested) as plain JSON-able Python values."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(args, value, path)
    if origin is Literal:
        # compare types too: YAML `true` must not match a Literal[1] choice, nor 1 a Literal[True]
        if not any(type(value) is type(a) and value == a for a in args):
            raise ConfigError(f"{path}: {value!r} is not one of {list(args)}")
        return value
    if origin in (tuple, list) or hint in (tuple, list):
        return _coerce_sequence(args, value, path)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return {str(k): _coerce(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, path)
    return _coerce_scalar(hint, value, path)


def _coerce_union(args: tuple, value: Any, path: str) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{path}: may not be null")
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _coerce(arg, value, path)
        except ConfigError as exc:
            errors.append(str(exc))
    raise ConfigError(f"{path}: {value!r} fits none of the allowed types ({'; '.join(errors)})")


def _coerce_sequence(args: tuple, value: Any, path: str) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
    item = args[0] if args else Any
    if len(args) == 2 and args[1] is Ellipsis or len(args) <= 1:
        return tuple(_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
    return tuple(_coerce(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))


def _coerce_scalar(hint: Any, value: Any, path: str) -> Any:
    if hint is Any:
        return value
    if hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError as exc:
            raise ConfigError(f"{path}: {value!r} is too large for a float") from exc
        if not math.isfinite(number):  # YAML .nan / .inf: no setting means them, and they break range checks
            raise ConfigError(f"{path}: expected a finite number, got {value!r}")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported config type {hint!r}")
