"""Mean squared error between projected student and teacher embeddings."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class MSEOptions:
    """No options."""


class MSELoss(nn.Module):
    """mean((s - t)^2) over all elements."""

    Options = MSEOptions

    def __init__(self, options: MSEOptions = MSEOptions()):
        super().__init__()

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """(..., dim) projected student and teacher embeddings -> scalar."""
        return F.mse_loss(student, teacher)
