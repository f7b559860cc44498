"""ERes2Net student: published size, fusion and pooling formulas, shapes, TorchScript."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.students.eres2net import AFF, ERes2Net, ERes2NetOptions, stats_pool
from pipeline.students.macs import count_params

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

SMALL = ERes2NetOptions(m_channels=8, num_blocks=(1, 1, 1, 1), embed_dim=32, n_mels=64)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def test_published_configuration_size():
    # 3D-Speaker's ERes2Net on 80-dim fbank (m_channels 32, blocks 3-4-6-3, 192-d) has 6.61 M parameters
    assert count_params(ERes2Net(ERes2NetOptions(n_mels=80))) == 6_610_688
    assert count_params(ERes2Net()) == 7_790_336  # 128 mels: a wider statistics layer


def test_shapes_variable_length_and_backward():
    model = ERes2Net(SMALL)
    out = model(torch.randn(3, 64, 37))
    assert out.shape == (3, 32) and model.embed_dim == 32
    out.pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.eval()(torch.randn(1, 64, 1)).isfinite().all()  # one frame: std stays finite


def test_odd_mel_count():
    model = ERes2Net(ERes2NetOptions(m_channels=8, num_blocks=(1, 1, 1, 1), embed_dim=16, n_mels=75)).eval()
    assert model(torch.randn(2, 75, 20)).shape == (2, 16)


def test_stats_pool_is_mean_and_population_std():
    x = torch.randn(2, 5, 9, dtype=torch.float64)
    xn = x.numpy()
    expected = np.concatenate([xn.mean(-1), np.sqrt(xn.var(-1) + 1e-7)], axis=-1)
    np.testing.assert_allclose(stats_pool(x).numpy(), expected, rtol=1e-12)


def test_aff_formula():
    fuse = AFF(channels=8, ratio=4).eval()
    x, y = torch.randn(2, 8, 3, 4), torch.randn(2, 8, 3, 4)
    weight = 1.0 + torch.tanh(fuse.attention(torch.cat([x, y], dim=1)))
    torch.testing.assert_close(fuse(x, y), x * weight + y * (2.0 - weight))
    torch.nn.init.zeros_(fuse.attention[-1].weight)  # zero attention: plain sum
    torch.nn.init.zeros_(fuse.attention[-1].bias)
    torch.testing.assert_close(fuse(x, y), x + y)


def test_local_fusion_only_in_stages_three_and_four():
    model = ERes2Net(SMALL)
    fused = [isinstance(stage[0].merges[0], AFF) for stage in [model.first_stage, *model.stages]]
    assert fused == [False, False, True, True]


def test_torchscript_matches_eager():
    model = ERes2Net(SMALL).eval()
    spec = torch.randn(2, 64, 30)
    torch.testing.assert_close(torch.jit.script(model)(spec), model(spec))
