"""Variance and covariance terms on the student's learnt channels (the two regularisers of VICReg).

A cosine-type loss through a linear head asks the learnt channels for the teachers' few dominant directions
only; every channel those directions do not need is free to collapse onto them or to go quiet, and whatever
the channels held of the input beyond the teachers (the pitch a random network keeps) is lost. Over each
training batch, with z the learnt channels of the clip embedding (the appended log-mel statistics left out):

    variance   = mean over channels of relu(1 - sqrt(var(z_c) + eps))      every channel keeps a unit spread
    covariance = sum of squared off-diagonal covariances / channels        no two channels say the same thing

Both are zero for a whitened embedding, so they constrain the channels' spread, not what the teachers'
heads read from them (a linear head undoes any invertible map of the channels).
"""
from __future__ import annotations

import torch
from torch import nn

EPS = 1e-4


def variance_term(z: torch.Tensor) -> torch.Tensor:
    """(batch, channels) -> scalar hinge on each channel's standard deviation over the batch (target 1)."""
    std = (z.var(dim=0) + EPS).sqrt()
    return torch.relu(1.0 - std).mean()


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """(batch, channels) -> scalar: the squared off-diagonal covariances over the batch, per channel."""
    n, d = z.shape
    centred = z - z.mean(dim=0)
    cov = centred.T @ centred / max(n - 1, 1)
    off = cov - torch.diag(cov.diagonal())
    return off.pow(2).sum() / d


class WithSpread(nn.Module):
    """inner loss(all but the last `columns` columns) + the weighted terms on those last columns (the learnt
    channels the model appends to its output when trained with them)."""

    def __init__(self, inner: nn.Module, variance_weight: float, covariance_weight: float, columns: int):
        super().__init__()
        self.inner, self.columns = inner, int(columns)
        self.variance_weight, self.covariance_weight = float(variance_weight), float(covariance_weight)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(batch, inner columns + `columns`), (batch, inner columns) -> scalar."""
        cut = prediction.shape[1] - self.columns
        z = prediction[:, cut:].float()
        spread = self.variance_weight * variance_term(z) + self.covariance_weight * covariance_term(z)
        return self.inner(prediction[:, :cut], target) + spread
