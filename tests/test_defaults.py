"""One set of defaults: every stage dataclass's default equals the value params.yaml gives the same key."""
from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest
import yaml

from pipeline.audio.config import AudioConfig
from pipeline.audio.logmel import LogMelConfig
from pipeline.cluster.config import ClusterConfig
from pipeline.config import DEFAULT_JOINT_TEACHERS, DEFAULT_TEACHERS, parse
from pipeline.demo.config import DemoConfig
from pipeline.embed import EmbedConfig
from pipeline.evaluate.benchmark import evaluate_embedder
from pipeline.evaluate.detection import DetectionConfig
from pipeline.evaluate.embeddings import task_embeddings
from pipeline.evaluate.probes import ProbeConfig
from pipeline.evaluate.suite import EvaluateConfig
from pipeline.export import ExportConfig
from pipeline.prepare import PrepareConfig
from pipeline.train.config import TrainConfig, default_teachers

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())

# dataclass -> (its params section, keys of that section the stage reads itself, fields without a default,
#               fields the stage fills from another section: field -> that key, or None where it varies per item)
SECTIONS = {
    AudioConfig: ("audio", (), {}, {}),
    DemoConfig: ("demo", (), {}, {}),
    PrepareConfig: ("prepare", (), {"input": "in", "output": "out"}, {"sample_rate": "audio.sample_rate"}),
    EmbedConfig: ("embed", ("teachers", "options"), {"teacher": "aisfx"},
                  {"window_seconds": "audio.window_seconds", "hop_seconds": "audio.hop_seconds",
                   "last_window": "audio.last_window", "teacher_options": None}),
    ClusterConfig: ("cluster", ("sweep",), {}, {}),
    TrainConfig: ("train", ("name", "teachers"), {}, {}),
    EvaluateConfig: ("evaluate", ("probe", "detection"), {},
                     {"window_seconds": "audio.window_seconds", "teacher_options": None}),
    ProbeConfig: ("evaluate.probe", (), {}, {}),
    DetectionConfig: ("evaluate.detection", (), {}, {}),
    ExportConfig: ("export", (), {}, {}),
    LogMelConfig: ("frontend", (), {}, {"sample_rate": "audio.sample_rate"}),
}


def value(key: str):
    """The params.yaml value at a dotted key."""
    node = PARAMS
    for part in key.split("."):
        node = node[part]
    return node


def disagreements(cls: type) -> list[str]:
    """`key: default -> params value` for every key whose dataclass default differs from params.yaml."""
    name, stage_keys, required, supplied = SECTIONS[cls]
    data = {k: v for k, v in value(name).items() if k not in stage_keys}
    data.update({field: value(key) for field, key in supplied.items() if key is not None})
    from_params, from_defaults = parse(cls, {**data, **required}, name), cls(**required)
    return [f"{name}.{key}: {getattr(from_defaults, key)!r} -> {getattr(from_params, key)!r}" for key in data
            if getattr(from_params, key) != getattr(from_defaults, key)]


@pytest.mark.parametrize("cls", list(SECTIONS), ids=lambda c: c.__name__)
def test_dataclass_defaults_are_the_params_values(cls):
    assert disagreements(cls) == []


@pytest.mark.parametrize("cls", list(SECTIONS), ids=lambda c: c.__name__)
def test_every_field_with_a_default_is_a_params_key(cls):
    """A default that params.yaml does not show would be a second, hidden source."""
    name, _, required, supplied = SECTIONS[cls]
    shown = set(value(name)) | set(required) | set(supplied)
    hidden = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in shown]
    assert hidden == [], f"{cls.__name__} defaults not in params.yaml `{name}`: {hidden}"


def test_the_check_sees_a_disagreement(monkeypatch):
    monkeypatch.setitem(PARAMS["train"], "epochs", PARAMS["train"]["epochs"] + 1)
    assert disagreements(TrainConfig) == [f"train.epochs: {PARAMS['train']['epochs'] - 1} -> "
                                          f"{PARAMS['train']['epochs']}"]


STAGES = Path(__file__).resolve().parents[1] / "stages"
# a stage that falls back to its own window, hop, rate or teacher list disagrees with params.yaml sooner or later
INVENTED = re.compile(r"""get\(\s*["'](window_seconds|hop_seconds|sample_rate|last_window|teachers)["']\s*,"""
                      r"""|\[\s*["']aisfx["']\s*\]|\b(32000|16000|44100)\b""")


def test_stages_invent_no_audio_or_teacher_default():
    offenders = [f"{path.name}:{n}: {line.strip()}" for path in sorted(STAGES.glob("*.py"))
                 for n, line in enumerate(path.read_text().splitlines(), 1) if INVENTED.search(line)]
    assert offenders == []


def test_the_check_sees_an_invented_default():
    assert INVENTED.search('window = audio.get("window_seconds", 10.0)')
    assert INVENTED.search('teachers = data.pop("teachers", ["aisfx"])')
    assert not INVENTED.search("window = audio.samples(audio.window_seconds, corpus.sample_rate)")


def test_library_functions_take_the_window_from_their_caller():
    for fn in (task_embeddings, evaluate_embedder):
        assert inspect.signature(fn).parameters["window_seconds"].default is inspect.Parameter.empty, fn.__name__


def test_default_teachers_are_the_params_teachers():
    assert list(DEFAULT_TEACHERS) == value("embed.teachers") == value("evaluate.teachers")
    assert default_teachers() == value("train.teachers")
    clustered = [value("cluster.teacher"), *value("cluster.joint_teachers")]
    assert clustered == [DEFAULT_TEACHERS[0], *DEFAULT_JOINT_TEACHERS]


TEACHERS = Path(__file__).resolve().parents[1] / "pipeline" / "teachers"


def test_teachers_carry_no_window_of_their_own():
    """The window and hop of a store row come from the `audio` section alone (the embed stage cuts the windows)."""
    offenders = [f"{path.name}:{n}" for path in sorted(TEACHERS.glob("*.py"))
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if re.search(r"\b(window_seconds|hop_seconds)\b", line)]
    assert offenders == []
