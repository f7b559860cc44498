"""m2d and matpac adapters. Their real runtimes and checkpoints are not installable here, so these tests
cover the missing-runtime errors, option validation, and the adapters' plumbing (shapes, masking,
fingerprints) against small stand-in runtimes that mimic the official APIs' call signatures."""
from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from pipeline.config import ConfigError
from pipeline.teachers.base import MissingRuntimeError, Teacher
from pipeline.teachers.registry import build_teacher

# step t of both stand-ins: energy of samples [2560 t, 2560 (t+1)), i.e. 16 frames of 160 samples
STEP_ENERGY = """
import torch
from torch import nn


class Cfg:
    pass


def step_energy(audio, n_steps):
    pad = n_steps * 2560 - audio.shape[1]
    audio = torch.nn.functional.pad(audio, (0, max(pad, 0)))[:, : n_steps * 2560]
    return audio.reshape(len(audio), n_steps, 2560).square().sum(-1, keepdim=True)  # (batch, steps, 1)


class Base(nn.Module):
    def __init__(self, path):
        super().__init__()
        self.proj = nn.Linear(1, 3, bias=False)
        self.proj.load_state_dict(torch.load(path, weights_only=True))
        self.cfg = Cfg()
"""

PORTABLE_M2D = STEP_ENERGY + """

class PortableM2D(Base):
    def __init__(self, weight_file):
        super().__init__(weight_file)
        self.cfg.sample_rate, self.cfg.hop_size, self.cfg.patch_size, self.cfg.feature_d = 16000, 160, [16, 16], 3

    def encode(self, audio):
        frames = 1 + audio.shape[1] // 160
        return self.proj(step_energy(audio, -(-frames // 16)))
"""

MATPAC_MODEL = STEP_ENERGY + """

class Wrapper(Base):
    def forward(self, x):
        frames = 1 + (x.shape[1] - 400) // 160
        emb = self.proj(step_energy(x, -(-frames // 16)))
        return emb, emb[:, None]


def get_matpac(checkpoint_path, inference_type="precise", pull_time_dimension=True):
    model = Wrapper(checkpoint_path)
    model.cfg.sr, model.cfg.patch_size = 16000, 16
    return model
"""


@pytest.fixture
def runtimes(tmp_path, monkeypatch):
    """Stand-in `portable_m2d` and `matpac` packages on sys.path, plus a checkpoint for them."""
    (tmp_path / "portable_m2d.py").write_text(textwrap.dedent(PORTABLE_M2D))
    (tmp_path / "matpac").mkdir()
    (tmp_path / "matpac" / "__init__.py").write_text("")
    (tmp_path / "matpac" / "model.py").write_text(textwrap.dedent(MATPAC_MODEL))
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.save({"weight": torch.tensor([[1.0], [-2.0], [0.5]])}, tmp_path / "ckpt.pth")
    yield tmp_path
    for name in ("portable_m2d", "matpac", "matpac.model"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("name, hint", [("m2d", "pip install timm einops nnAudio"),
                                        ("matpac", "aurianworld/matpac#subdirectory=inference_matpac")])
def test_missing_runtime_says_what_to_install(tmp_path, name, hint):
    with pytest.raises(MissingRuntimeError, match=hint):
        build_teacher(name, {"checkpoint": str(tmp_path / "ckpt.pth")})


@pytest.mark.parametrize("name, options, match", [
    ("m2d", {}, "checkpoint: required key is missing"),
    ("m2d", {"checkpoint": "c.pth", "layer": 3}, "unknown key"),
    ("matpac", {"checkpoint": "c.pth", "inference_type": "slow"}, "inference_type"),
    ("matpac", {"checkpoint": "c.pth", "window_seconds": 10.0}, r"unknown key\(s\) \['window_seconds'\]"),
])
def test_options_are_validated(name, options, match):
    with pytest.raises(ConfigError, match=match):
        build_teacher(name, options)


@pytest.mark.parametrize("name", ["m2d", "matpac"])
def test_adapter_plumbing(runtimes, name):
    teacher = build_teacher(name, {"checkpoint": str(runtimes / "ckpt.pth")})
    assert isinstance(teacher, Teacher)
    assert (teacher.name, teacher.sample_rate, teacher.embed_dim) == (name, 16000, 3)
    clip = torch.randn(1, 7000)
    padded = torch.cat([clip, torch.zeros(1, 9000)], dim=1)
    alone = teacher.embed(clip)
    assert alone.shape == (1, 3) and alone.dtype == torch.float32
    torch.testing.assert_close(teacher.embed(padded, torch.tensor([7000])), alone)
    assert not torch.allclose(teacher.embed(padded), alone)
    with pytest.raises(ConfigError, match="not found"):
        build_teacher(name, {"checkpoint": str(runtimes / "missing.pth")})


def test_adapter_fingerprint_follows_checkpoint(runtimes):
    first = build_teacher("m2d", {"checkpoint": str(runtimes / "ckpt.pth")}).fingerprint
    torch.save({"weight": torch.tensor([[1.0], [-2.0], [0.25]])}, runtimes / "ckpt.pth")
    assert build_teacher("m2d", {"checkpoint": str(runtimes / "ckpt.pth")}).fingerprint != first
