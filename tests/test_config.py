"""Typed config parsing: every wrong key, type or choice fails with a ConfigError naming the key path."""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import ConfigError, check, load_section, parse, to_dict
from pipeline.prepare import PrepareConfig


@dataclass(frozen=True)
class Inner:
    a: int = 1
    mode: Literal["x", "y"] = "x"


@dataclass(frozen=True)
class Outer:
    n: int
    f: float = 0.5
    flag: bool = False
    name: str = "n"
    opt: int | None = None
    pair: tuple[int, int] = (1, 2)
    seq: tuple[float, ...] = ()
    inner: Inner = field(default_factory=Inner)
    table: dict[str, int] = field(default_factory=dict)
    level: Literal[1, 2] = 1

    def __post_init__(self):
        check(self.n >= 0, "sec.n", f"must be >= 0, got {self.n}")
        if self.name == "boom":
            raise ValueError("name may not be boom")


def test_valid_parse_and_coercions():
    cfg = parse(Outer, {"n": 3, "f": 2, "pair": [4, 5], "seq": [1, 2.5], "inner": {"a": 7, "mode": "y"},
                        "table": {"k": 1, 2: 3}, "opt": 9, "level": 2}, "sec")
    assert cfg == Outer(n=3, f=2.0, pair=(4, 5), seq=(1.0, 2.5), inner=Inner(7, "y"), table={"k": 1, "2": 3},
                        opt=9, level=2)
    assert isinstance(cfg.f, float) and isinstance(cfg.seq, tuple)
    assert parse(Outer, to_dict(cfg), "sec") == cfg


@pytest.mark.parametrize("data,message", [
    ({"n": 1, "bogus": 1}, "sec: unknown key(s) ['bogus']; allowed: ['f', 'flag', 'inner'"),
    ({"n": 1, "inner": {"b": 1}}, "sec.inner: unknown key(s) ['b']; allowed: ['a', 'mode']"),
    ({}, "sec.n: required key is missing"),
    ({"n": "3"}, "sec.n: expected an integer, got '3'"),
    ({"n": True}, "sec.n: expected an integer, got True"),
    ({"n": 3.0}, "sec.n: expected an integer, got 3.0"),
    ({"n": None}, "sec.n: expected an integer, got None"),
    ({"n": 1, "f": "1e-3"}, "sec.f: expected a number, got '1e-3'"),
    ({"n": 1, "f": False}, "sec.f: expected a number, got False"),
    ({"n": 1, "f": 10 ** 400}, "sec.f: 1000"),
    ({"n": 1, "flag": 1}, "sec.flag: expected true/false, got 1"),
    ({"n": 1, "flag": "yes"}, "sec.flag: expected true/false, got 'yes'"),
    ({"n": 1, "name": ["a"]}, "sec.name: expected a string, got ['a']"),
    ({"n": 1, "opt": "x"}, "sec.opt: 'x' fits none of the allowed types"),
    ({"n": 1, "pair": [1]}, "sec.pair: expected 2 items, got 1"),
    ({"n": 1, "pair": [1, "b"]}, "sec.pair[1]: expected an integer, got 'b'"),
    ({"n": 1, "pair": "12"}, "sec.pair: expected a list, got str"),
    ({"n": 1, "seq": [1.0, None]}, "sec.seq[1]: expected a number, got None"),
    ({"n": 1, "inner": {"a": "2"}}, "sec.inner.a: expected an integer, got '2'"),
    ({"n": 1, "inner": {"mode": "z"}}, "sec.inner.mode: 'z' is not one of ['x', 'y']"),
    ({"n": 1, "inner": [1]}, "sec.inner: expected a mapping, got list"),
    ({"n": 1, "table": {"k": "v"}}, "sec.table.k: expected an integer, got 'v'"),
    ({"n": 1, "table": [1]}, "sec.table: expected a mapping, got list"),
    ({"n": 1, "level": True}, "sec.level: True is not one of [1, 2]"),
    ({"n": 1, "level": 1.0}, "sec.level: 1.0 is not one of [1, 2]"),
    ({"n": -1}, "sec.n: must be >= 0, got -1"),
    ({"n": 1, "name": "boom"}, "sec: name may not be boom"),
])
def test_errors_name_the_key_path(data, message):
    with pytest.raises(ConfigError) as info:
        parse(Outer, data, "sec")
    assert str(info.value).startswith(message), str(info.value)


def test_none_handling():
    assert parse(Outer, {"n": 1, "opt": None}, "sec").opt is None
    assert parse(Inner, None, "sec") == Inner()  # an empty YAML section means all defaults
    assert parse(Outer, {"n": 1, "inner": None}, "sec").inner == Inner()
    with pytest.raises(ConfigError, match="sec.f: expected a number, got None"):
        parse(Outer, {"n": 1, "f": None}, "sec")
    with pytest.raises(ConfigError, match="sec: expected a mapping, got list"):
        parse(Inner, [1], "sec")


def test_load_section():
    assert load_section(Inner, {}, "inner") == Inner()
    assert load_section(Inner, {"inner": {"a": 4}}, "inner") == Inner(a=4)
    with pytest.raises(ConfigError, match="inner.a"):
        load_section(Inner, {"inner": {"a": 4.5}}, "inner")


def test_prepare_config_checks():
    for data, path in [({"min_seconds": -1}, "prepare.min_seconds"),
                       ({"min_seconds": float("nan")}, "prepare.min_seconds"),
                       ({"max_seconds": 0.05}, "prepare.max_seconds"),
                       ({"max_seconds": float("inf")}, "prepare.max_seconds"),
                       ({"workers": -2}, "prepare.workers"), ({"sample_rate": 999}, "audio.sample_rate"),
                       ({"path_template": "{ytid}/{nope}.wav"}, "prepare.path_template"),
                       ({"path_template": "{start:d}.wav"}, "prepare.path_template"),
                       ({"sample_format": "int8"}, "prepare.sample_format")]:
        with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
            parse(PrepareConfig, {**FOLDERS, **data}, "prepare")
    assert parse(PrepareConfig, {**FOLDERS, "path_template": "{ytid}_{start:.0f}-{end:.0f}.flac"}, "prepare")


# --- fuzz: any value of the wrong type for any PrepareConfig field is a ConfigError, never another exception

FOLDERS = {"input": "in", "output": "out"}  # required fields (params and the stage's --output always give them)
_HINTS = typing.get_type_hints(PrepareConfig)
_FIELDS = [f.name for f in dataclasses.fields(PrepareConfig)]

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2 ** 1024, max_value=2 ** 1100)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def _right_type(hint, value) -> bool:
    if typing.get_origin(hint) is Literal:
        return value in typing.get_args(hint) and isinstance(value, str)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_right_type(a, value) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(name=st.sampled_from(_FIELDS), value=_values)
def test_fuzz_prepare_config_field_types(name, value):
    hint = _HINTS[name]
    try:
        cfg = parse(PrepareConfig, {**FOLDERS, name: value}, "prepare")
    except ConfigError as exc:
        assert name in str(exc) or name == "sample_rate"
        return
    assert _right_type(hint, value), f"{name}={value!r} accepted"
    got = getattr(cfg, name)
    expected = float(value) if isinstance(got, float) and isinstance(value, int) else value
    assert got == expected or (got != got and value != value)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(data=st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=6), _values, max_size=5))
def test_fuzz_prepare_config_whole_sections(data):
    try:
        parse(PrepareConfig, {**FOLDERS, **data}, "prepare")
    except ConfigError:
        pass
