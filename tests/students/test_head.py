"""Projection head shapes and sizes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from pipeline.config import ConfigError, parse
from pipeline.students.head import HeadOptions, ProjectionHead
from pipeline.students.macs import count_params


def test_default_head_has_one_hidden_layer():
    head = ProjectionHead(192, 768)
    assert count_params(head) == (192 * 512 + 512) + 2 * 512 + (512 * 768 + 768)
    assert head(torch.randn(4, 192)).shape == (4, 768)
    assert head(torch.randn(2, 3, 192)).shape == (2, 3, 768)


def test_no_hidden_layers_is_linear():
    head = ProjectionHead(96, 512, HeadOptions(hidden=()))
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and count_params(head) == 96 * 512 + 512


def test_head_is_batch_independent():
    head = ProjectionHead(16, 8, HeadOptions(hidden=(32, 32))).train()
    x = torch.randn(5, 16)
    torch.testing.assert_close(head(x)[:1], head(x[:1]))


def test_options_validation():
    assert parse(HeadOptions, {"hidden": [256, 128]}, "head").hidden == (256, 128)
    with pytest.raises(ConfigError):
        parse(HeadOptions, {"hidden": [0]}, "head")


def test_a_head_can_read_the_leading_columns_alone():
    head = ProjectionHead(10, 4, HeadOptions(hidden=(), inputs=6))
    assert count_params(head) == 6 * 4 + 4
    x = torch.randn(3, 10)
    changed = torch.cat([x[:, :6], torch.randn(3, 4)], dim=1)  # other trailing columns: the same output
    torch.testing.assert_close(head(x), head(changed))
    assert head(torch.randn(2, 5, 10)).shape == (2, 5, 4)
    with pytest.raises(ConfigError, match="inputs"):
        ProjectionHead(10, 4, HeadOptions(inputs=11))
    with pytest.raises(ConfigError, match="inputs"):
        HeadOptions(inputs=-1)
