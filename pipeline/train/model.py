"""The trained module (student + projection head), its objective and its optimiser."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from pipeline.losses.registry import build_loss
from pipeline.students.head import HeadOptions, ProjectionHead, TeacherHeads
from pipeline.students.pretrained import init_student
from pipeline.students.registry import build_student
from pipeline.train.config import TeacherSpec, TrainConfig, teacher_loss_options


class Distiller(nn.Module):
    """Student plus projection head; the head maps into the teacher's space (or onto label logits)."""

    def __init__(self, student: nn.Module, head: nn.Module):
        super().__init__()
        self.student, self.head = student, head

    def forward(self, logmels: torch.Tensor) -> torch.Tensor:
        return self.head(self.student.embed(logmels))


class WeightedLoss(nn.Module):
    """sum_t w_t * loss_t(prediction block t, target block t) over per-teacher column blocks (weights sum to 1)."""

    def __init__(self, losses: Sequence[nn.Module], weights: Sequence[float], dims: Sequence[int]):
        super().__init__()
        self.losses, self.weights, self.dims = nn.ModuleList(losses), tuple(weights), list(dims)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(batch, sum of dims) each -> the weighted scalar loss."""
        blocks = zip(self.weights, self.losses, prediction.split(self.dims, 1), target.split(self.dims, 1))
        return sum(w * loss(p, t) for w, loss, p, t in blocks)


def build_models(cfg: TrainConfig, out_dim: int, seed: int, head_dims: Sequence[int] = ()) -> Distiller:
    """Student + head (one head per teacher when `head_dims` are given), initialised from `seed`; the student's
    backbone then from `cfg.init` when set."""
    torch.manual_seed(seed)
    student = build_student(cfg.student, cfg.student_options)
    if cfg.init is not None:  # draws no random numbers: the head's initialisation is the same either way
        init_student(student, cfg.init, "train.init")
    options = HeadOptions(hidden=cfg.head_hidden)
    head = TeacherHeads(student.embed_dim, head_dims, options) if head_dims else \
        ProjectionHead(student.embed_dim, out_dim, options)
    return Distiller(student, head)


def build_objective(cfg: TrainConfig, heads: Sequence[TeacherSpec] = (), dims: Sequence[int] = ()) -> nn.Module:
    """The distillation loss by name (a weighted sum over teachers' heads when several), or BCE-with-logits for
    the supervised baseline."""
    if cfg.objective == "supervised":
        return nn.BCEWithLogitsLoss()
    if heads:
        losses = [build_loss(h.loss, teacher_loss_options(cfg, h)) for h in heads]
        return WeightedLoss(losses, [h.weight for h in heads], dims)
    return build_loss(cfg.loss, cfg.loss_options)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay), Adam, or SGD with momentum 0.9."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    adam = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
