"""MobileNetV3 student: shapes, parameter counts against EfficientAT, MACs, TorchScript."""
from __future__ import annotations

import pytest
import torch

from pipeline.students.layers import make_divisible
from pipeline.students.macs import count_macs, count_params
from pipeline.students.mobilenetv3 import MobileNetV3, MobileNetV3Options

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

# backbone parameters (no classifier) per width, from this implementation
PARAMS = {0.1: 43_384, 0.2: 139_848, 0.4: 516_128, 1.0: 2_971_664}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def efficientat_classifier_params(embed_dim: int, width: float, classes: int = 527) -> int:
    """EfficientAT's MLP head: Linear(embed, 1280*w) -> Linear(1280*w, classes), both with bias."""
    hidden = make_divisible(1280 * width)
    return embed_dim * hidden + hidden + hidden * classes + classes


@pytest.mark.parametrize("width", sorted(PARAMS))
def test_shapes_and_parameter_counts(width):
    model = MobileNetV3(MobileNetV3Options(width=width)).eval()
    assert model.embed_dim == 6 * make_divisible(160 * width)
    assert count_params(model) == PARAMS[width]
    out = model.embed(torch.randn(2, 128, 64))
    assert out.shape == (2, model.embed_dim) and torch.isfinite(out).all()


def test_width_one_matches_efficientat_published_size():
    model = MobileNetV3()
    assert model.embed_dim == 960
    total = count_params(model) + efficientat_classifier_params(960, 1.0)
    assert total == pytest.approx(4.88e6, rel=2e-3)  # mn10_as: 4.88 M parameters with the 527-class head


def test_macs_match_efficientat_published_counts():
    # EfficientAT: mn04 0.11 GMACs, mn10 0.54 GMACs on 128 mels x 1000 frames (the head adds ~0.002)
    spec = torch.zeros(1, 128, 1000)
    assert count_macs(MobileNetV3(MobileNetV3Options(width=0.4)), spec) / 1e9 == pytest.approx(0.11, abs=0.006)
    assert count_macs(MobileNetV3(), spec) / 1e9 == pytest.approx(0.54, abs=0.006)


def test_strides_change_resolution_not_parameters():
    coarse = MobileNetV3(MobileNetV3Options(width=0.2))
    fine = MobileNetV3(MobileNetV3Options(width=0.2, strides=(2, 2, 1, 1)))
    assert count_params(coarse) == count_params(fine)
    spec = torch.zeros(1, 128, 96)
    assert fine.features(spec.unsqueeze(1)).shape[2:] == (16, 12)  # stem and two strided blocks: 8x down
    assert coarse.features(spec.unsqueeze(1)).shape[2:] == (4, 3)  # 32x down
    assert count_macs(fine, spec) > 2 * count_macs(coarse, spec)


def test_variable_length_input_training_step_and_torchscript():
    model = MobileNetV3(MobileNetV3Options(width=0.1))
    out = model(torch.randn(3, 128, 37))
    out.pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    spec = torch.randn(2, 128, 81)
    torch.testing.assert_close(torch.jit.script(model)(spec), model(spec))


def test_invalid_options():
    from pipeline.config import ConfigError, parse
    with pytest.raises(ConfigError, match="strides"):
        parse(MobileNetV3Options, {"strides": [2, 2, 3, 2]}, "student.mobilenetv3")
    with pytest.raises(ConfigError, match="width"):
        parse(MobileNetV3Options, {"width": 0.0}, "student.mobilenetv3")


def test_last_channels_sets_the_learnt_width_before_the_summary():
    model = MobileNetV3(MobileNetV3Options(width=0.1, last_channels=24, summary_bands=128)).eval()
    spec = torch.randn(2, 128, 60)
    out = model(spec)
    assert model.embed_dim == 24 + 2 * 128 and out.shape == (2, model.embed_dim)
    assert model.frames(spec).shape[-1] == model.embed_dim
    default = MobileNetV3(MobileNetV3Options(width=0.1))
    # only the last 1x1 conv changes: same input (the last block), fewer outputs
    assert model.features[-1][0].in_channels == default.features[-1][0].in_channels
    assert model.features[-1][0].out_channels == 24 < default.features[-1][0].out_channels
    from pipeline.config import ConfigError, parse
    with pytest.raises(ConfigError, match="last_channels"):
        parse(MobileNetV3Options, {"last_channels": -1}, "student.mobilenetv3")
