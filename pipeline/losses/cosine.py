"""Cosine distance: 1 - cos(student, teacher), averaged over examples (the S-SONDO default)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class CosineOptions:
    """No options."""


class CosineLoss(nn.Module):
    """mean(1 - cos(s, t)) over all leading dimensions."""

    Options = CosineOptions

    def __init__(self, options: CosineOptions = CosineOptions()):
        super().__init__()

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """(..., dim) projected student and teacher embeddings -> scalar."""
        return (1.0 - F.cosine_similarity(student, teacher, dim=-1, eps=1e-8)).mean()
