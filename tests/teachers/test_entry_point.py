"""python teacher: an entry point `module:factory` from user code, checked for conformance on load."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.config import ConfigError
from pipeline.teachers.base import Teacher
from pipeline.teachers.registry import build_teacher


@pytest.fixture(autouse=True)
def helper_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


def test_factory_with_kwargs():
    teacher = build_teacher("python", {"entry": "entry_helper:make_energy", "kwargs": {"dim": 5}})
    assert isinstance(teacher, Teacher)
    assert (teacher.name, teacher.embed_dim, teacher.sample_rate) == ("python", 5, 8000)  # the instance name wins
    x = torch.randn(2, 1000)
    out = teacher.embed(x)
    assert out.shape == (2, 5) and out.dtype == torch.float32
    torch.testing.assert_close(out[:, 0], torch.log1p(x[:, :200].square().mean(dim=1)))


def test_non_conforming_object_names_every_problem():
    with pytest.raises(ConfigError) as err:
        build_teacher("python", {"entry": "entry_helper:make_incomplete"})
    message = str(err.value)
    for problem in ("'sample_rate' must be a positive integer", "missing attribute 'embed_dim'",
                    "missing attribute 'fingerprint'", "missing method 'to'"):
        assert problem in message


@pytest.mark.parametrize("entry, match", [
    ("entry_helper.make_energy", "package.module:factory"),
    ("no_such_module_xyz:make", "cannot import"),
    ("entry_helper:nothing_here", "no callable"),
])
def test_bad_entries(entry, match):
    with pytest.raises(ConfigError, match=match):
        build_teacher("python", {"entry": entry})


def test_bad_kwargs_type():
    with pytest.raises(ConfigError, match="kwargs"):
        build_teacher("python", {"entry": "entry_helper:make_energy", "kwargs": [1, 2]})
