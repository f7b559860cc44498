"""Projection head: student embedding -> teacher embedding space, used only for the training loss.

Hidden layers are Linear -> LayerNorm -> GELU. LayerNorm rather than BatchNorm so the head behaves the
same in training and evaluation and does not depend on how a batch is composed (mixup partners,
windows of one clip). The last layer is a plain Linear. The head is discarded at export time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from pipeline.config import check


@dataclass(frozen=True)
class HeadOptions:
    """Hidden layer sizes (an empty tuple makes the head a single linear map) and how many leading columns of the
    embedding the head reads (0: all; a student's learnt channels come before its appended log-mel statistics)."""

    hidden: tuple[int, ...] = (512,)
    inputs: int = 0

    def __post_init__(self):
        check(all(h >= 1 for h in self.hidden), "hidden", f"sizes must be >= 1, got {self.hidden}")
        check(self.inputs >= 0, "inputs", f"must be >= 0 (0: every column), got {self.inputs}")


class ProjectionHead(nn.Module):
    """MLP from `in_dim` (student) to `out_dim` (teacher)."""

    def __init__(self, in_dim: int, out_dim: int, options: HeadOptions = HeadOptions()):
        super().__init__()
        check(options.inputs <= in_dim, "inputs", f"must be <= the embedding width {in_dim}, got {options.inputs}")
        self.inputs = options.inputs
        layers: list[nn.Module] = []
        width = options.inputs or in_dim
        for hidden in options.hidden:
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU()]
            width = hidden
        layers.append(nn.Linear(width, out_dim))
        self.mlp = nn.Sequential(*layers)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(..., in_dim) -> (..., out_dim), from the first `inputs` columns alone when set."""
        return self.mlp(embeddings[..., :self.inputs] if self.inputs else embeddings)


class TeacherHeads(nn.Module):
    """One ProjectionHead per teacher on the shared embedding; their outputs side by side (..., sum of dims)."""

    def __init__(self, in_dim: int, dims: Sequence[int], options: HeadOptions = HeadOptions()):
        super().__init__()
        self.dims = tuple(int(d) for d in dims)
        self.heads = nn.ModuleList(ProjectionHead(in_dim, d, options) for d in self.dims)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(..., in_dim) -> (..., sum of dims), teacher t's block at columns sum(dims[:t]) onwards."""
        return torch.cat([head(embeddings) for head in self.heads], dim=-1)


def to_teacher_space(y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, norm: torch.Tensor | float) -> torch.Tensor:
    """Undo training's target normalisation on head outputs `y` (..., out_dim).

    A cosine-type loss leaves the prediction's norm free, so a positive `norm` (the typical norm of a normalised
    training target) is restored first; then the per-dimension std and mean.
    """
    if float(norm) > 0:
        y = y / y.norm(dim=-1, keepdim=True).clamp_min(1e-12) * norm
    return y * std + mean
