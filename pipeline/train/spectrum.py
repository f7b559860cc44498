"""A free second target: the log-mel statistics of the student's own input window.

Log-mel statistics (per-band mean and std over time) know things a sound-effects teacher ignores (the
spectral envelope of a voice, the pitch of a note); a student distilled into that teacher's space alone is
free to drop them. This head asks the student embedding to keep them: a linear map from the embedding
must regress the statistics of the very window the student sees (exact, whatever the augmentation), normalised by
running corpus statistics (standardised, or whitened so that the fine structure counts as much as level and tilt).
Nothing is cached: the target costs one mean and one std over the input log-mels.
"""
from __future__ import annotations

import torch
from torch import nn

from pipeline.audio.logmel import band_statistics

SPECTRUM_TARGETS = ("standardize", "whiten")


class SpectrumTarget(nn.Module):
    """Log-mel statistics, standardised or whitened by running corpus statistics (buffers: resume restores them).

    `standardize` scales each statistic to unit variance. The statistics are strongly correlated (level and spectral
    tilt move every band at once), so a squared error on them is dominated by a few principal components and leaves
    the fine structure (where the harmonics of a note or a voice lie) unfitted. `whiten` (ZCA) gives every principal
    component unit variance, those below `floor` x the mean variance a capped weight instead of amplified noise.
    """

    def __init__(self, n_mels: int, mode: str = "whiten", momentum: float = 0.01, floor: float = 0.01,
                 eps: float = 1e-4):
        super().__init__()
        if mode not in SPECTRUM_TARGETS:
            raise ValueError(f"spectrum target must be one of {list(SPECTRUM_TARGETS)}, got {mode!r}")
        self.mode, self.momentum, self.floor, self.eps = mode, momentum, floor, eps
        dim = 2 * n_mels
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("cov", torch.eye(dim))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def forward(self, logmels: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) -> (batch, 2 * n_mels) normalised statistics (updates the running ones in
        training mode: the first batch sets them, later batches move them by `momentum`)."""
        stats = band_statistics(logmels.float())  # the whole window: the student sees its padding too
        if self.training:
            rate = 1.0 if int(self.seen) == 0 else self.momentum
            centred = stats - stats.mean(dim=0)
            self.mean.lerp_(stats.mean(dim=0), rate)
            self.cov.lerp_(centred.T @ centred / len(stats), rate)
            self.seen += 1
        return (stats - self.mean) @ self.transform().to(stats.dtype)

    def transform(self) -> torch.Tensor:
        """(dim, dim) matrix applied to the centred statistics: diagonal scaling, or the ZCA whitening matrix."""
        if self.mode == "standardize":
            return torch.diag((self.cov.diagonal() + self.eps).rsqrt())
        values, vectors = torch.linalg.eigh(self.cov.double())
        values = values.clamp(min=0) + self.floor * values.clamp(min=0).mean() + self.eps
        return (vectors * values.rsqrt()) @ vectors.T


class SpectrumHead(nn.Module):
    """Linear map from the student embedding to the standardised statistics, plus their target."""

    def __init__(self, embed_dim: int, n_mels: int, mode: str = "whiten"):
        super().__init__()
        self.linear = nn.Linear(embed_dim, 2 * n_mels)
        self.target = SpectrumTarget(n_mels, mode)
        self.dim = 2 * n_mels

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(batch, embed_dim) -> (batch, 2 * n_mels) predicted standardised statistics."""
        return self.linear(embeddings)


class WithSpectrumLoss(nn.Module):
    """teacher loss(first columns) + weight * mean squared error(last `spectrum_dim` columns)."""

    def __init__(self, teacher_loss: nn.Module, weight: float, spectrum_dim: int):
        super().__init__()
        self.teacher_loss, self.weight, self.spectrum_dim = teacher_loss, float(weight), int(spectrum_dim)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(batch, teacher dims + spectrum dim) each -> scalar."""
        cut = prediction.shape[1] - self.spectrum_dim
        spectrum = nn.functional.mse_loss(prediction[:, cut:], target[:, cut:])
        return self.teacher_loss(prediction[:, :cut], target[:, :cut]) + self.weight * spectrum
