"""Mean absolute error between projected student and teacher embeddings."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class L1Options:
    """No options."""


class L1Loss(nn.Module):
    """mean(|s - t|) over all elements."""

    Options = L1Options

    def __init__(self, options: L1Options = L1Options()):
        super().__init__()

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """(..., dim) projected student and teacher embeddings -> scalar."""
        return F.l1_loss(student, teacher)
