"""MAC counter against hand counts on a tiny network."""
from __future__ import annotations

import torch
from torch import nn

from pipeline.students.macs import count_macs, count_params


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)  # 4*1*9 + 4 = 40 params
        self.bn = nn.BatchNorm2d(4)  # 8 params (not MACs)
        self.depthwise = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4, bias=False)  # 36 params
        self.grouped = nn.Conv1d(4, 6, 3, groups=2, bias=False)  # 6*2*3 = 36 params
        self.fc = nn.Linear(6, 3)  # 21 params

    def forward(self, x):
        x = self.depthwise(torch.relu(self.bn(self.conv(x))))  # (b, 4, 4, 5)
        x = self.grouped(x.mean(dim=2))  # (b, 6, 3)
        return self.fc(x.mean(dim=2))  # (b, 3)


class Reports(nn.Module):
    """A module reporting its own MACs (as DyMN's dynamic convs do)."""

    def forward(self, x):
        return x * 2

    def count_macs(self, x, out):
        return 1000


def test_hand_count():
    batch = 2
    conv = 4 * 8 * 10 * (1 * 9)  # output elements x (in/groups) x kernel
    depthwise = 4 * 4 * 5 * (1 * 9)
    grouped = 6 * 3 * (2 * 3)
    fc = 3 * 6
    assert count_macs(Tiny(), torch.zeros(batch, 1, 8, 10)) == batch * (conv + depthwise + grouped + fc)
    assert count_params(Tiny()) == 40 + 8 + 36 + 36 + 21


def test_custom_count_and_trainable_only_and_mode_restored():
    model = nn.Sequential(Reports(), nn.Linear(5, 2))
    model.train()
    assert count_macs(model, torch.zeros(1, 5)) == 1000 + 10
    assert model.training
    model[1].bias.requires_grad_(False)
    assert count_params(model, trainable_only=True) == 10
