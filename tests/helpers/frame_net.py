"""A small real waveform model for TorchScript-teacher tests: (batch, samples) -> (batch, 6)."""
from __future__ import annotations

import torch
from torch import nn


class FrameNet(nn.Module):
    """Strided conv over the waveform, tanh, mean over frames."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(1, 6, kernel_size=64, stride=32)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(waveforms[:, None, :])).mean(dim=-1)
