"""Registry, protocol check, fingerprints and pooling helpers shared by all teachers."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.config import ConfigError
from pipeline.teachers.base import check_teacher
from pipeline.fingerprint import file_fingerprint, weights_fingerprint
from pipeline.teachers.pooling import centred_frames, masked_mean, mean_over_valid, row_lengths
from pipeline.teachers.registry import TEACHERS, build_teacher, teacher_options


def test_unknown_teacher_lists_valid_names():
    with pytest.raises(ConfigError) as err:
        build_teacher("beats", {})
    for name in ("aisfx", "crepe", "torchscript", "onnx", "python", "m2d", "matpac", "resemblyzer"):
        assert repr(name) in str(err.value)
    assert set(TEACHERS) == {"aisfx", "crepe", "torchscript", "onnx", "python", "m2d", "matpac", "resemblyzer"}


def test_unknown_option_fails_naming_allowed_ones():
    with pytest.raises(ConfigError, match=r"teacher_options: unknown key\(s\) \['hop'\]; allowed: .*chunk"):
        build_teacher("aisfx", {"hop": 3})
    with pytest.raises(ConfigError, match="teacher_options.drop_partial_block: expected true/false"):
        teacher_options("aisfx", {"drop_partial_block": "yes"})
    with pytest.raises(ConfigError, match="embed.teacher_options.checkpoint: required key is missing"):
        teacher_options("m2d", {}, where="embed.teacher_options")




def test_check_teacher_accepts_conforming_objects():
    class Good:
        name, sample_rate, embed_dim, fingerprint = "g", 16000, 8, "abc"

        def embed(self, waveforms, lengths=None):
            return waveforms

        def to(self, device):
            return self

        def eval(self):
            return self

    good = Good()
    assert check_teacher(good, "here") is good
    good.embed_dim = 8.5
    with pytest.raises(ConfigError, match="'embed_dim' must be a positive integer"):
        check_teacher(good, "here")


def test_weights_fingerprint_sees_every_byte_and_setting():
    state = {"b": torch.zeros(3), "a": torch.arange(4, dtype=torch.bfloat16)}
    base = weights_fingerprint(state, {"x": 1})
    assert len(base) == 16 and base == weights_fingerprint(dict(reversed(state.items())), {"x": 1})
    bumped = {**state, "b": torch.tensor([0.0, 0.0, 1e-30])}
    assert weights_fingerprint(bumped, {"x": 1}) != base
    assert weights_fingerprint(state, {"x": 2}) != base
    assert weights_fingerprint({"c": state["b"], "a": state["a"]}, {"x": 1}) != base


def test_file_fingerprint(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"\x00" * 10)
    first = file_fingerprint(path, {})
    path.write_bytes(b"\x00" * 9 + b"\x01")
    assert file_fingerprint(path, {}) != first


def test_pooling_helpers():
    assert torch.equal(centred_frames(torch.tensor([0, 1023, 1024, 5000]), 1024), torch.tensor([1, 1, 2, 5]))
    x = torch.zeros(2, 100)
    assert torch.equal(row_lengths(x, None), torch.tensor([100, 100]))
    assert torch.equal(row_lengths(x, torch.tensor([0, 500])), torch.tensor([1, 100]))
    with pytest.raises(ValueError):
        row_lengths(x, torch.tensor([3]))
    values = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)  # (batch, steps, dim)
    torch.testing.assert_close(masked_mean(values, torch.tensor([1, 3])), torch.tensor([[0.0, 1.0], [8.0, 9.0]]))
    valid = torch.tensor([[True, False, False], [True, True, True]])
    # chunk smaller than the valid items: results must not depend on it
    for chunk in (1, 2, 10):
        out = mean_over_valid(lambda v: v * 2, values, valid, chunk)
        torch.testing.assert_close(out, 2 * masked_mean(values, torch.tensor([1, 3])))


def test_instances_name_their_kind_in_their_options(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # entry_helper
    a = build_teacher("small", {"kind": "python", "entry": "entry_helper:make_energy", "kwargs": {"dim": 4}})
    b = build_teacher("large", {"kind": "python", "entry": "entry_helper:make_energy", "kwargs": {"dim": 8}})
    assert (a.name, a.embed_dim, b.name, b.embed_dim) == ("small", 4, "large", 8)
    assert a.fingerprint != b.fingerprint
    assert build_teacher("python", {"entry": "entry_helper:make_energy"}).name == "python"  # a kind is a name too
    with pytest.raises(ConfigError, match=r"unknown teacher 'small'.*embed.options.small.kind"):
        teacher_options("small", {"entry": "entry_helper:make_energy"}, "embed.options.small")
    with pytest.raises(ConfigError, match=r"embed.options.small.kind: unknown teacher kind 'pyton'"):
        teacher_options("small", {"kind": "pyton", "entry": "x:y"}, "embed.options.small")
    with pytest.raises(ConfigError, match="unknown key"):  # the kind's own options are still checked
        teacher_options("small", {"kind": "python", "entry": "x:y", "layer": 3}, "embed.options.small")
