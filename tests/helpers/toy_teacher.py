"""A small, deterministic, real teacher for tests (a fixed random conv net on the waveform)."""
from __future__ import annotations

import hashlib

import torch
from torch import nn


class ToyTeacher(nn.Module):
    """Follows the teacher protocol; counts calls so tests can prove a run never used it."""

    name = "toy"

    def __init__(self, sample_rate: int = 16000, dim: int = 24, seed: int = 0, nan_every: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.sample_rate, self.embed_dim = sample_rate, dim
        self.conv = nn.Conv1d(1, dim, kernel_size=64, stride=32)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.1)
            self.conv.bias.copy_(torch.randn(dim, generator=g) * 0.01)
        self.nan_every = nan_every
        self.calls = 0
        blob = b"".join(p.detach().numpy().tobytes() for p in self.parameters())
        self.fingerprint = hashlib.sha256(blob).hexdigest()[:16]

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        self.calls += 1
        h = torch.tanh(self.conv(waveforms.unsqueeze(1)))  # (batch, dim, frames)
        out = h.mean(dim=2) + waveforms.abs().mean(dim=1, keepdim=True)
        if self.nan_every:
            out[:: self.nan_every] = float("nan")
        return out
