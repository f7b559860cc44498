"""KL divergence between softmaxes over the embedding dimensions (Hinton-style, scaled by T^2)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.config import check


@dataclass(frozen=True)
class KLOptions:
    """Softmax temperature T."""

    temperature: float = 1.0

    def __post_init__(self):
        check(self.temperature > 0, "temperature", "must be positive")


class KLLoss(nn.Module):
    """KL(softmax(t / T) || softmax(s / T)) * T^2, summed over dims, averaged over examples."""

    Options = KLOptions

    def __init__(self, options: KLOptions = KLOptions()):
        super().__init__()
        self.temperature = options.temperature

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """(..., dim) projected student and teacher embeddings -> scalar."""
        dim = student.shape[-1]
        log_q = F.log_softmax(student.reshape(-1, dim) / self.temperature, dim=-1)
        log_p = F.log_softmax(teacher.reshape(-1, dim) / self.temperature, dim=-1)
        kl = F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
        return kl * self.temperature ** 2
