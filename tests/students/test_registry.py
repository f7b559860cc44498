"""Student registry: names, option parsing, the shared protocol."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.config import ConfigError
from pipeline.students import STUDENTS, Student, build_student, student_options

TINY = {
    "mobilenetv3": {"width": 0.1},
    "dymn": {"width": 0.1, "kernels": 2},
    "eres2net": {"m_channels": 4, "num_blocks": [1, 1, 1, 1], "embed_dim": 24, "n_mels": 64},
}


def test_every_registered_student_follows_the_protocol():
    assert set(STUDENTS) == set(TINY)
    torch.set_num_threads(1)
    for name, options in TINY.items():
        model = build_student(name, options).eval()
        assert isinstance(model, Student)
        spec = torch.randn(2, 64, 21)
        out = model.embed(spec)
        assert out.shape == (2, model.embed_dim)
        torch.testing.assert_close(model(spec), out)
        model.set_epoch(3)


def test_options_are_parsed_and_frozen():
    opts = student_options("mobilenetv3", {"width": 0.4, "strides": [2, 2, 1, 2]})
    assert opts.strides == (2, 2, 1, 2)
    with pytest.raises(Exception):
        opts.width = 1.0
    assert build_student("mobilenetv3", opts).embed_dim == 384
    assert build_student("mobilenetv3").embed_dim == 960


def test_unknown_names_and_keys_fail_listing_valid_ones():
    with pytest.raises(ConfigError, match=r"\['dymn', 'eres2net', 'mobilenetv3'\]"):
        build_student("resnet50", {})
    with pytest.raises(ConfigError, match="allowed"):
        build_student("dymn", {"widht": 0.4})
    with pytest.raises(ConfigError, match="student.mobilenetv3.width"):
        build_student("mobilenetv3", {"width": "wide"})


def calibrate_batch_norm(model: nn.Module, inputs: torch.Tensor) -> None:
    """Set BatchNorm statistics from one batch, so eval-mode activations are O(1) rather than vanishing."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # cumulative average: one pass sets the statistics exactly
    with torch.no_grad():
        model.train()(inputs)
    model.eval()


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", sorted(TINY))
def test_front_end_plus_student_exports_to_onnx(name, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from pipeline.audio.logmel import LogMel, LogMelConfig

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(LogMel(LogMelConfig(n_mels=64)), build_student(name, TINY[name]))
    calibrate_batch_norm(model, torch.randn(8, 32000))
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (torch.randn(1, 16000),), str(path), dynamo=False, opset_version=17,
                      input_names=["waveforms"], output_names=["embeddings"],
                      dynamic_axes={"waveforms": {0: "batch", 1: "samples"}, "embeddings": {0: "batch"}})
    audio = torch.randn(3, 32000)
    got = ort.InferenceSession(str(path)).run(None, {"waveforms": audio.numpy()})[0]
    expected = model(audio).detach().numpy()
    assert got.shape == expected.shape
    assert float(abs(expected).std()) > 1e-2
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * float(abs(expected).max()))
