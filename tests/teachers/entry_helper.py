"""Factories for the `python` teacher tests (imported by module name, as a user's package would be)."""
from __future__ import annotations

import hashlib

import torch
from torch import nn


class EnergyTeacher(nn.Module):
    """Log energy in `dim` equal slices of the window: small, deterministic, follows the protocol."""

    name = "energy"

    def __init__(self, dim: int, sample_rate: int):
        super().__init__()
        self.embed_dim, self.sample_rate = dim, sample_rate
        self.fingerprint = hashlib.sha256(f"energy{dim}".encode()).hexdigest()[:16]

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        slices = waveforms.reshape(len(waveforms), self.embed_dim, -1)  # (batch, dim, samples / dim)
        return torch.log1p(slices.square().mean(dim=-1))


def make_energy(dim: int = 4, sample_rate: int = 8000) -> EnergyTeacher:
    """A conforming teacher."""
    return EnergyTeacher(dim, sample_rate)


class Incomplete:
    """Has a name and an embed method, nothing else."""

    name = "incomplete"
    sample_rate = 0

    def embed(self, waveforms, lengths=None):
        return waveforms


def make_incomplete() -> Incomplete:
    """A non-conforming object."""
    return Incomplete()
