"""The trained module (student + projection head), its objective and its optimiser."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from pipeline.losses.registry import build_loss
from pipeline.students.head import HeadOptions, ProjectionHead, TeacherHeads
from pipeline.students.pooling import learnt_columns
from pipeline.students.pretrained import init_student
from pipeline.students.registry import build_student
from pipeline.train.config import TeacherSpec, TrainConfig, teacher_loss_options
from pipeline.train.spectrum import SpectrumHead, WithSpectrumLoss
from pipeline.train.spread import WithSpread


class Distiller(nn.Module):
    """Student plus projection head; the head maps into the teacher's space (or onto label logits).

    With a `spectrum` head (train.spectrum_weight > 0) its predicted log-mel statistics follow the head's
    output in the same rows; with `spread_columns` (train.variance_weight or covariance_weight > 0) that many
    leading embedding columns (the learnt channels) come last, for the spread terms: (batch, out_dim
    [+ spectrum dim] [+ spread_columns]).
    """

    def __init__(self, student: nn.Module, head: nn.Module, spectrum: SpectrumHead | None = None,
                 spread_columns: int = 0):
        super().__init__()
        self.student, self.head, self.spectrum, self.spread_columns = student, head, spectrum, spread_columns

    def forward(self, logmels: torch.Tensor) -> torch.Tensor:
        embeddings = self.student.embed(logmels)  # (batch, embed_dim)
        parts = [self.head(embeddings)]
        if self.spectrum is not None:
            parts.append(self.spectrum(embeddings))
        if self.spread_columns:
            parts.append(embeddings[:, :self.spread_columns])
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    def with_spectrum_targets(self, logmels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """`targets` (batch, out_dim), followed by the spectrum head's targets for `logmels` when it has one."""
        if self.spectrum is None:
            return targets
        return torch.cat([targets, self.spectrum.target(logmels).to(targets.dtype)], dim=1)


class WeightedLoss(nn.Module):
    """sum_t w_t * loss_t(prediction block t, target block t) over per-teacher column blocks (weights sum to 1)."""

    def __init__(self, losses: Sequence[nn.Module], weights: Sequence[float], dims: Sequence[int]):
        super().__init__()
        self.losses, self.weights, self.dims = nn.ModuleList(losses), tuple(weights), list(dims)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(batch, sum of dims) each -> the weighted scalar loss."""
        blocks = zip(self.weights, self.losses, prediction.split(self.dims, 1), target.split(self.dims, 1))
        return sum(w * loss(p, t) for w, loss, p, t in blocks)


def build_models(cfg: TrainConfig, out_dim: int, seed: int, head_dims: Sequence[int] = (),
                 n_mels: int | None = None) -> Distiller:
    """Student + head (one head per teacher when `head_dims` are given), initialised from `seed`; the student's
    backbone then from `cfg.init` when set; a spectrum head on `n_mels` bands when `cfg` distils with one."""
    torch.manual_seed(seed)
    student = build_student(cfg.student, cfg.student_options)
    if cfg.init is not None:  # draws no random numbers: the head's initialisation is the same either way
        init_student(student, cfg.init, "train.init")
    options = HeadOptions(hidden=cfg.head_hidden, inputs=head_inputs(cfg, student))
    head = TeacherHeads(student.embed_dim, head_dims, options) if head_dims else \
        ProjectionHead(student.embed_dim, out_dim, options)
    spectrum = None
    if uses_spectrum(cfg):  # built last: the student's and head's initialisation do not depend on it
        if n_mels is None:
            raise ValueError("train.spectrum_weight > 0 needs the front-end's n_mels")
        spectrum = SpectrumHead(student.embed_dim, n_mels, cfg.spectrum_target)
    return Distiller(student, head, spectrum, learnt_columns(student) if uses_spread(cfg) else 0)


def head_inputs(cfg: TrainConfig, student: nn.Module) -> int:
    """Leading embedding columns the teachers' heads read: the learnt channels for `train.head_input: learnt` when
    the student appends statistics after them, else 0 (all: without statistics every column is learnt; the
    supervised baseline's label head reads the whole embedding)."""
    if cfg.head_input == "all" or cfg.objective == "supervised" or not getattr(student, "summary_bands", 0):
        return 0
    return learnt_columns(student)


def uses_spread(cfg: TrainConfig) -> bool:
    """Whether a distillation run adds the variance/covariance terms on the learnt channels."""
    return cfg.objective == "distill" and (cfg.variance_weight > 0 or cfg.covariance_weight > 0)


def uses_spectrum(cfg: TrainConfig) -> bool:
    """Whether a run distils with the log-mel statistics head (never the supervised baseline)."""
    return cfg.objective == "distill" and cfg.spectrum_weight > 0


def build_objective(cfg: TrainConfig, heads: Sequence[TeacherSpec] = (), dims: Sequence[int] = (),
                    spectrum_dim: int = 0, spread_columns: int = 0) -> nn.Module:
    """The distillation loss by name (a weighted sum over teachers' heads when several; plus the spectrum head's
    weighted error when `spectrum_dim`; plus the spread terms on the last `spread_columns` columns), or
    BCE-with-logits for the supervised baseline."""
    if cfg.objective == "supervised":
        return nn.BCEWithLogitsLoss()
    if heads:
        losses = [build_loss(h.loss, teacher_loss_options(cfg, h)) for h in heads]
        loss: nn.Module = WeightedLoss(losses, [h.weight for h in heads], dims)
    else:
        loss = build_loss(cfg.loss, cfg.loss_options)
    if spectrum_dim:
        loss = WithSpectrumLoss(loss, cfg.spectrum_weight, spectrum_dim)
    return WithSpread(loss, cfg.variance_weight, cfg.covariance_weight, spread_columns) if spread_columns else loss


def teacher_objective(loss: nn.Module) -> nn.Module:
    """The teacher part of an objective `build_objective` made, without the spread terms and the spectrum head's
    error (validation scores the heads into the teachers' spaces only)."""
    if isinstance(loss, WithSpread):
        loss = loss.inner
    return loss.teacher_loss if isinstance(loss, WithSpectrumLoss) else loss


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay), Adam, or SGD with momentum 0.9."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    adam = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
