"""Clip pooling of a student's last feature map: what survives of the (freq, time) map in the embedding.

`mean` is EfficientAT's global average: one value per channel. `meanstd` first averages over frequency,
then keeps the mean *and* the standard deviation over time of each channel, as log-mel statistics keep a
per-band std beside the mean: how a channel's activity varies in time (syllable rate, note onsets, noise
bursts) survives into the embedding, which a mean alone cannot carry. It doubles the embedding width.
"""
from __future__ import annotations

import torch

POOLINGS = ("mean", "meanstd")


def pooled_dim(channels: int, pooling: str) -> int:
    """Embedding width of `pooling` over a map of `channels` channels."""
    return channels * (2 if pooling == "meanstd" else 1)


def pool(features: torch.Tensor, pooling: str) -> torch.Tensor:
    """(batch, channels, freq, time) -> (batch, pooled_dim)."""
    if pooling == "mean":
        return features.mean(dim=(2, 3))
    over_time = features.mean(dim=2)  # (batch, channels, time)
    # unbiased=False: a one-frame map (a very short input) gives std 0, not NaN
    return torch.cat([over_time.mean(dim=2), over_time.std(dim=2, unbiased=False)], dim=1)
