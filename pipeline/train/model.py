"""The trained module (student + projection head), its objective and its optimiser."""
from __future__ import annotations

import torch
from torch import nn

from pipeline.losses.registry import build_loss
from pipeline.students.head import HeadOptions, ProjectionHead
from pipeline.students.pretrained import init_student
from pipeline.students.registry import build_student
from pipeline.train.config import TrainConfig


class Distiller(nn.Module):
    """Student plus projection head; the head maps into the teacher's space (or onto label logits)."""

    def __init__(self, student: nn.Module, head: nn.Module):
        super().__init__()
        self.student, self.head = student, head

    def forward(self, logmels: torch.Tensor) -> torch.Tensor:
        return self.head(self.student.embed(logmels))


def build_models(cfg: TrainConfig, out_dim: int, seed: int) -> Distiller:
    """Student + head, initialised from `seed`; the student's backbone then from `cfg.init` when set."""
    torch.manual_seed(seed)
    student = build_student(cfg.student, cfg.student_options)
    if cfg.init is not None:  # draws no random numbers: the head's initialisation is the same either way
        init_student(student, cfg.init, "train.init")
    head = ProjectionHead(student.embed_dim, out_dim, HeadOptions(hidden=cfg.head_hidden))
    return Distiller(student, head)


def build_objective(cfg: TrainConfig) -> nn.Module:
    """The distillation loss by name, or BCE-with-logits for the supervised baseline."""
    if cfg.objective == "supervised":
        return nn.BCEWithLogitsLoss()
    return build_loss(cfg.loss, cfg.loss_options)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay), Adam, or SGD with momentum 0.9."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    adam = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
