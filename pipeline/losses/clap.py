"""CLAP/CLIP-style contrastive loss: symmetric InfoNCE between normalised student and teacher embeddings.

Row i of the batch is the positive pair (student_i, teacher_i); every other teacher (student) in the
batch is a negative. With `learnable` the temperature is a parameter (stored as log(1/T), clamped to
1/T <= 100 as in CLIP), so the loss module's parameters must go to the optimiser.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.config import check

MAX_LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class ClapOptions:
    """Initial temperature and whether it is learned."""

    temperature: float = 0.07
    learnable: bool = False

    def __post_init__(self):
        check(1.0 / MAX_LOGIT_SCALE <= self.temperature, "temperature", f"must be >= {1.0 / MAX_LOGIT_SCALE}")


class ClapLoss(nn.Module):
    """(CE(logits, diag) + CE(logits^T, diag)) / 2 with logits = norm(s) norm(t)^T / T."""

    Options = ClapOptions

    def __init__(self, options: ClapOptions = ClapOptions()):
        super().__init__()
        log_scale = torch.tensor(math.log(1.0 / options.temperature))
        if options.learnable:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """(..., dim) projected student and teacher embeddings -> scalar; needs at least 2 rows."""
        dim = student.shape[-1]
        s = F.normalize(student.reshape(-1, dim), dim=-1)
        t = F.normalize(teacher.reshape(-1, dim), dim=-1)
        scale = self.log_scale.exp().clamp(max=MAX_LOGIT_SCALE)
        logits = scale * s @ t.T  # (rows, rows): student i vs teacher j
        targets = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))
