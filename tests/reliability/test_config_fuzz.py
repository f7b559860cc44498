"""Any wrong-typed or out-of-range value anywhere in the real params.yaml fails at load, naming its key path."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.audio.logmel import LogMelConfig
from pipeline.cluster.config import ClusterConfig
from pipeline.config import ConfigError, parse
from pipeline.demo.config import DemoConfig
from pipeline.evaluate.suite import EvaluateConfig
from pipeline.export import ExportConfig
from pipeline.prepare import PrepareConfig
from pipeline.train.config import TrainConfig
from stages.embed import embed_config

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())


def _train(p: dict):
    """The train stage's parse."""
    data = dict(p["train"])
    data.pop("name")  # the stage's own keys (output folder, target stores), not TrainConfig fields
    data.pop("teachers")
    return parse(TrainConfig, data, "train")


def _evaluate(p: dict):
    """The evaluate stage's parse (window and teacher options default from `audio` and `embed`)."""
    data = dict(p["evaluate"])
    data.setdefault("window_seconds", p["audio"]["window_seconds"])
    data.setdefault("teacher_options", p["embed"]["options"])
    return parse(EvaluateConfig, data, "evaluate")


# section -> the parse its stage does (after `stages.params.section` has checked the section is a mapping)
PARSERS = {
    "prepare": lambda p: parse(PrepareConfig, dict(p["prepare"], sample_rate=p["audio"]["sample_rate"],
                                                    output="corpus"), "prepare"),  # --output on the command line
    "embed": lambda p: embed_config(p, "aisfx"),  # dvc.yaml runs `ssondo embed --teacher <item>`
    "cluster": lambda p: parse(ClusterConfig, p["cluster"], "cluster"),
    "train": _train,
    "evaluate": _evaluate,
    "export": lambda p: parse(ExportConfig, p["export"], "export"),
    "demo": lambda p: parse(DemoConfig, p["demo"], "demo"),
    "frontend": lambda p: parse(LogMelConfig, dict(p["frontend"], sample_rate=p["audio"]["sample_rate"]), "frontend"),
}
SKIP = ("train.name", "train.teachers")


def leaves(node, path: str):
    """(key path, value) of every value below a section: scalars, and lists and mappings as a whole."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", value
            yield from leaves(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield f"{path}[{i}]", value
            yield from leaves(value, f"{path}[{i}]")


def replaced(path: str, value) -> dict:
    """A copy of the real params with the value at key path `path` replaced."""
    params = copy.deepcopy(PARAMS)
    *parents, last = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    node = params
    for key in parents:
        node = node[int(key[1:-1])] if key.startswith("[") else node[key]
    node[int(last[1:-1]) if last.startswith("[") else last] = value
    return params


def as_declared(section: str, path: str, value):
    """`value` as its field declares it: a whole number written for a float field (`commit_seconds: 60`) is a float,
    so the fuzzing below does not expect that field to refuse fractions."""
    if not isinstance(value, int) or isinstance(value, bool):
        return value
    try:
        PARSERS[section](replaced(path, value + 0.5))
    except ConfigError:
        return value
    return float(value)


LEAVES = [(section, path, as_declared(section, path, value)) for section in PARSERS
          for path, value in leaves(PARAMS[section], section) if not path.startswith(SKIP)]


TEXT, LISTS, MAPS = st.text(max_size=8), st.lists(st.integers(), min_size=1, max_size=3), \
    st.dictionaries(st.text(min_size=1, max_size=4), st.integers(), min_size=1, max_size=2)
FRACTIONS = st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x) if abs(x) < 1e300 else True)


def wrong_type(value) -> st.SearchStrategy:
    """Values that no field holding `value` in params.yaml may accept."""
    if isinstance(value, bool):
        return st.integers() | st.floats() | TEXT | LISTS | MAPS
    if isinstance(value, int):
        return TEXT | st.booleans() | FRACTIONS | st.just(float("nan")) | LISTS | MAPS
    if isinstance(value, float):
        return TEXT | st.booleans() | st.sampled_from([float("nan"), float("inf"), -float("inf")]) | LISTS | MAPS
    if isinstance(value, str):
        return st.integers() | st.floats() | st.booleans() | LISTS | MAPS
    if value is None:
        return st.booleans() | LISTS | MAPS
    if isinstance(value, list):
        return TEXT.filter(bool) | st.integers() | st.booleans() | MAPS
    return TEXT | st.integers() | st.booleans() | LISTS  # a mapping


def named(message: str, path: str) -> bool:
    """The message names `path`; registries may insert the chosen name (train.student_options.<student>.width)."""
    for name in (PARAMS["train"]["student"], PARAMS["train"]["loss"]):
        message = message.replace(f".{name}.", ".")
    return path in message


def test_the_real_params_parse():
    for parse_section in PARSERS.values():
        parse_section(PARAMS)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(data=st.data())
def test_wrong_type_fails_with_its_key_path(data):
    section, path, value = data.draw(st.sampled_from(LEAVES))
    wrong = data.draw(wrong_type(value))
    with pytest.raises(ConfigError) as info:
        PARSERS[section](replaced(path, wrong))
    assert named(str(info.value), path), f"{path}={wrong!r}: {info.value}"


NUMBERS = [(s, p, v) for s, p, v in LEAVES if isinstance(v, (int, float)) and not isinstance(v, bool)]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_number_is_accepted_or_refused_by_key(data):
    section, path, value = data.draw(st.sampled_from(NUMBERS))
    numbers = st.integers(-10 ** 30, 10 ** 30)
    if isinstance(value, float):
        numbers |= st.floats(allow_nan=False, allow_infinity=False)
    number = data.draw(numbers)
    try:
        PARSERS[section](replaced(path, number))
    except ConfigError as exc:
        # a cross-field check may name its partner key, but always names this key somewhere
        key = re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]
        assert str(exc).startswith((f"{section}.", f"{section}:", "audio.")) and key in str(exc), \
            f"{path}={number!r}: {exc}"
