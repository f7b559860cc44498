"""DyMN student: dynamic conv / DyReLU against per-example references, sizes, schedule, TorchScript."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from pipeline.students.dymn import DyMN, DyMNOptions, DynamicConv, DyReLU
from pipeline.students.layers import make_divisible
from pipeline.students.macs import count_macs, count_params

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def per_example_conv(conv: DynamicConv, x: torch.Tensor, context: torch.Tensor, groups: int) -> torch.Tensor:
    """Reference: mix the K kernels with softmax(attention / T) and run an ordinary conv per example."""
    attn = torch.softmax(conv.attention(context) / conv.temperature, dim=-1)
    outs = []
    for b in range(x.shape[0]):
        kernel = (attn[b][:, None, None, None, None] * conv.weight).sum(0)
        outs.append(F.conv2d(x[b:b + 1], kernel, stride=conv.stride, padding=(conv.kernel_size - 1) // 2,
                             groups=groups))
    return torch.cat(outs)


def test_pointwise_dynamic_conv_equals_per_example_conv():
    conv = DynamicConv(6, 10, context_dim=5, kernels=4, temperature=0.7)
    torch.nn.init.normal_(conv.attention.weight)  # spread the attention so the kernels really differ
    x, context = torch.randn(3, 6, 7, 9), torch.randn(3, 5)
    torch.testing.assert_close(conv(x, context), per_example_conv(conv, x, context, groups=1))


@pytest.mark.parametrize("stride,kernel", [(1, 3), (2, 5), (2, 3)])
def test_depthwise_dynamic_conv_equals_per_example_conv(stride, kernel):
    conv = DynamicConv(8, 8, context_dim=5, kernels=3, kernel_size=kernel, stride=stride, depthwise=True)
    torch.nn.init.normal_(conv.attention.weight)
    x, context = torch.randn(2, 8, 11, 13), torch.randn(2, 5)
    torch.testing.assert_close(conv(x, context), per_example_conv(conv, x, context, groups=8))


def test_dyrelu_is_max_of_two_context_lines():
    act = DyReLU(channels=4, context_dim=3, pieces=2)
    torch.nn.init.normal_(act.coefs.weight)
    x, context = torch.randn(2, 4, 5, 6), torch.randn(2, 3)
    theta = (2 / (1 + np.exp(-act.coefs(context).detach().numpy())) - 1).reshape(2, 4, 4)
    a1, a2, b1, b2 = theta[..., 0] + 1.0, theta[..., 1], 0.5 * theta[..., 2], 0.5 * theta[..., 3]
    line = lambda a, b: x.numpy() * a[:, :, None, None] + b[:, :, None, None]
    expected = np.maximum(line(a1, b1), line(a2, b2))
    np.testing.assert_allclose(act(x, context).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dyrelu_starts_as_relu():
    act = DyReLU(channels=4, context_dim=3, pieces=2)
    torch.nn.init.zeros_(act.coefs.weight)
    torch.nn.init.zeros_(act.coefs.bias)
    x = torch.randn(2, 4, 5, 6)
    torch.testing.assert_close(act(x, torch.randn(2, 3)), torch.relu(x))


@pytest.mark.parametrize("width,params", [(0.4, 1_493_768), (1.0, 8_643_312)])
def test_parameter_counts_match_efficientat(width, params):
    model = DyMN(DyMNOptions(width=width))
    assert count_params(model) == params
    assert model.embed_dim == 6 * make_divisible(160 * width)
    hidden = make_divisible(1280 * width)
    classifier = model.embed_dim * hidden + hidden + hidden * 527 + 527
    published = {0.4: 1.97e6, 1.0: 10.57e6}[width]  # dymn04_as / dymn10_as with the 527-class head
    assert count_params(model) + classifier == pytest.approx(published, rel=5e-3)


def test_forward_shapes_odd_sizes_and_backward():
    model = DyMN(DyMNOptions(width=0.1))
    out = model(torch.randn(2, 128, 53))
    assert out.shape == (2, model.embed_dim)
    out.pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert count_macs(model, torch.zeros(1, 128, 53)) > 0


def test_embedding_is_per_example():
    model = DyMN(DyMNOptions(width=0.1)).eval()
    batch = torch.randn(3, 128, 40)
    one = model(batch[1:2])
    torch.testing.assert_close(model(batch)[1:2], one, rtol=1e-4, atol=1e-5)


def test_temperature_schedule():
    model = DyMN(DyMNOptions(width=0.1, temp_start=30.0, temp_end=1.0, temp_epochs=10))
    temps = lambda: {float(m.temperature) for m in model.modules() if isinstance(m, DynamicConv)}
    assert temps() == {30.0}
    model.set_epoch(5)
    assert temps() == {15.5}
    model.set_epoch(50)
    assert temps() == {1.0}
    assert "blocks.0.depth.temperature" in model.state_dict()  # survives a checkpoint round trip


def test_torchscript_matches_eager():
    model = DyMN(DyMNOptions(width=0.1)).eval()
    spec = torch.randn(2, 128, 45)
    torch.testing.assert_close(torch.jit.script(model)(spec), model(spec))


def test_last_channels_sets_the_learnt_width():
    model = DyMN(DyMNOptions(width=0.1, last_channels=40))
    assert model.embed_dim == 40 and model(torch.randn(2, 128, 53)).shape == (2, 40)
