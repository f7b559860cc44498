"""torchscript and onnx teachers: files made here from a small module, run through the protocol."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from pipeline.config import ConfigError
from pipeline.teachers.base import Teacher
from pipeline.teachers.registry import build_teacher

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")


class FrameNet(nn.Module):
    """A small real embedding model: strided conv over the waveform, tanh, mean over frames."""

    def __init__(self, dim: int = 6):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(1, dim, kernel_size=64, stride=32)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(waveforms[:, None, :])).mean(dim=-1)


class MaskedFrameNet(FrameNet):
    """The same, taking lengths so it can pool only over frames inside the real audio."""

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.conv(waveforms[:, None, :]))  # (batch, dim, frames)
        real = torch.clamp((lengths - 64) // 32 + 1, min=1)  # (batch,)
        mask = (torch.arange(h.shape[-1])[None, :] < real[:, None]).to(h.dtype)
        return (h * mask[:, None, :]).sum(-1) / real[:, None].to(h.dtype)


@pytest.fixture
def scripted(tmp_path):
    path = tmp_path / "frame_net.pt"
    torch.jit.save(torch.jit.script(FrameNet().eval()), str(path))
    return path


@pytest.fixture
def exported(tmp_path):
    path = tmp_path / "frame_net.onnx"
    pytest.importorskip("onnxruntime")
    with pytest.warns(DeprecationWarning):  # the legacy exporter; the dynamo one needs onnxscript
        torch.onnx.export(FrameNet().eval(), (torch.randn(2, 1600),), str(path), input_names=["waveforms"],
                          output_names=["embeddings"], dynamic_axes={"waveforms": {0: "batch", 1: "samples"}},
                          dynamo=False)
    return path


def _check_protocol(teacher: Teacher, name: str):
    assert isinstance(teacher, Teacher)
    assert (teacher.name, teacher.sample_rate, teacher.embed_dim) == (name, 8000, 6)
    x = torch.randn(3, 4000)
    out = teacher.embed(x)
    assert out.shape == (3, 6) and out.dtype == torch.float32
    assert torch.equal(out, teacher.embed(x))
    with torch.no_grad():
        torch.testing.assert_close(out, FrameNet()(x), rtol=1e-5, atol=1e-6)
    assert teacher.to("cpu") is not None and teacher.eval() is not None


def _options(path, **extra):
    return {"path": str(path), "sample_rate": 8000, "embed_dim": 6, **extra}


def test_torchscript_teacher(scripted):
    teacher = build_teacher("torchscript", _options(scripted))
    _check_protocol(teacher, "torchscript")
    assert teacher.fingerprint == build_teacher("torchscript", _options(scripted)).fingerprint
    assert teacher.fingerprint != build_teacher("torchscript", _options(scripted, sample_rate=16000)).fingerprint


def test_torchscript_passes_lengths_when_asked(tmp_path):
    path = tmp_path / "masked.pt"
    torch.jit.save(torch.jit.script(MaskedFrameNet().eval()), str(path))
    teacher = build_teacher("torchscript", _options(path, pass_lengths=True))
    clip = torch.randn(1, 1000)
    padded = torch.cat([clip, torch.zeros(1, 3000)], dim=1)
    torch.testing.assert_close(teacher.embed(padded, torch.tensor([1000])), teacher.embed(clip))


def test_wrong_embed_dim_fails_on_call(scripted):
    teacher = build_teacher("torchscript", _options(scripted, embed_dim=7))
    with pytest.raises(ValueError, match=r"shape \(2, 6\), expected \(2, 7\)"):
        teacher.embed(torch.randn(2, 2000))


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        build_teacher("torchscript", _options(tmp_path / "nope.pt"))
    with pytest.raises(ConfigError, match="embed_dim"):
        build_teacher("onnx", {"path": "x.onnx", "sample_rate": 8000})


def test_onnx_teacher(exported):
    teacher = build_teacher("onnx", _options(exported, threads=1))
    _check_protocol(teacher, "onnx")
    assert teacher.fingerprint == build_teacher("onnx", _options(exported)).fingerprint
    with pytest.raises(ValueError, match="expected"):
        build_teacher("onnx", _options(exported, embed_dim=5)).embed(torch.randn(1, 900))
