"""`TrainConfig`: the `train` params section as a frozen, validated dataclass (defaults equal params.yaml's)."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pipeline.config import DEFAULT_TEACHER_WEIGHTS, DEFAULT_TEACHERS, ConfigError, check, parse, to_dict
from pipeline.losses.registry import loss_options
from pipeline.students.registry import student_options


@dataclass(frozen=True)
class TrainConfig:
    """Settings of the `train` stage (params section `train`; the defaults are params.yaml's)."""

    objective: Literal["distill", "supervised"] = "distill"
    student: str = "mobilenetv3"
    student_options: dict = field(default_factory=lambda: {"width": 0.35, "summary_bands": 128, "last_channels": 64})
    init: str | None = None  # backbone checkpoint the student starts from (student.pt, checkpoint.pt, EfficientAT)
    head_hidden: tuple[int, ...] = ()
    loss: str = "clap"
    loss_options: dict = field(default_factory=dict)
    target: Literal["clip", "window", "view"] = "window"
    views: int | None = None  # target=view: the first this many views of each clip (None = all the store holds)
    target_norm: Literal["none", "center", "standardize"] = "center"
    spectrum_weight: float = 0.0  # weight of the log-mel statistics head's error beside the teacher loss (0 = off)
    spectrum_target: Literal["standardize", "whiten"] = "whiten"  # how that head's targets are normalised
    head_input: Literal["all", "learnt"] = "learnt"  # what the teachers' heads read: the learnt channels or everything
    variance_weight: float = 0.0  # weight of the learnt channels' variance term (pipeline.train.spread; 0 = off)
    covariance_weight: float = 0.0  # weight of their covariance term (0 = off)
    sampler: Literal["balanced", "uniform"] = "balanced"
    label_column: str = "labels"
    epochs: int = 72
    epoch_size: int = 1536
    batch_size: int = 32
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    final_lr_scale: float = 0.05
    grad_clip: float = 5.0
    mixup_alpha: float = 0.0
    time_masks: int = 0
    time_width: int = 20
    freq_masks: int = 0
    freq_width: int = 16
    val_fraction: float = 0.1
    val_max_rows: int = 256
    seed: int = 0
    workers: int = 1
    device: str = "auto"
    bf16: bool = True
    compile: bool = False
    memory_budget_gb: float = 2.0
    block_chunks: int = 8
    cache_logmels: bool = True  # compute each fixed example's log-mel once (fixed windows only; pipeline.train.bank)
    channels_last: bool = True  # channels-last convolutions (1.7x faster steps on a CPU core, measured)

    def __post_init__(self):
        student_options(self.student, self.student_options, "train.student_options")
        loss_options(self.loss, self.loss_options, "train.loss_options")
        for name in ("epochs", "epoch_size", "batch_size"):
            check(getattr(self, name) >= 1, f"train.{name}", f"must be >= 1, got {getattr(self, name)}")
        check(self.epoch_size >= self.batch_size, "train.epoch_size",
              f"must be >= batch_size ({self.batch_size}), or an epoch has no step")
        check(self.lr > 0, "train.lr", f"must be > 0, got {self.lr}")
        check(0 <= self.final_lr_scale <= 1, "train.final_lr_scale", "must be in [0, 1]")
        check(0 <= self.val_fraction < 1, "train.val_fraction", "must be in [0, 1)")
        check(self.warmup_epochs >= 0, "train.warmup_epochs", "must be >= 0")
        check(self.grad_clip >= 0, "train.grad_clip", "must be >= 0 (0 = off)")
        check(self.mixup_alpha >= 0, "train.mixup_alpha", "must be >= 0 (0 = off)")
        check(math.isfinite(self.spectrum_weight) and self.spectrum_weight >= 0, "train.spectrum_weight",
              f"must be a finite number >= 0 (0 = off), got {self.spectrum_weight}")
        for name in ("variance_weight", "covariance_weight"):
            value = getattr(self, name)
            check(math.isfinite(value) and value >= 0, f"train.{name}",
                  f"must be a finite number >= 0 (0 = off), got {value}")
        check(self.workers >= 0, "train.workers", "must be >= 0")
        check(self.block_chunks >= 1, "train.block_chunks", f"must be >= 1, got {self.block_chunks}")
        check(self.memory_budget_gb >= 0, "train.memory_budget_gb", "must be >= 0")
        check(self.init is None or bool(self.init.strip()), "train.init", "must be a checkpoint path or null")
        check(self.views is None or self.views >= 1, "train.views", f"must be >= 1 or null, got {self.views}")

    def fingerprint(self, extra: dict) -> str:
        """Hash of everything that changes the training run (resume only continues an identical run)."""
        blob = json.dumps({"cfg": to_dict(self), "extra": extra}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TeacherSpec:
    """One entry of `train.teachers`: a teacher's store, its share of the loss and its loss (None: train.loss)."""

    name: str
    weight: float = 1.0
    loss: str | None = None

    def __post_init__(self):
        check(isinstance(self.name, str) and bool(self.name.strip()), "name", "must name a teacher store")
        check(math.isfinite(self.weight) and self.weight > 0, "weight", f"must be a finite number > 0, got {self.weight}")


def default_teachers() -> list[dict]:
    """`train.teachers` when params name none: the default teachers with their default loss weights."""
    return [{"name": name, "weight": weight} for name, weight in zip(DEFAULT_TEACHERS, DEFAULT_TEACHER_WEIGHTS)]


def parse_teachers(value: Any, cfg: TrainConfig) -> tuple[TrainConfig, tuple[TeacherSpec, ...]]:
    """`train.teachers` (names, or {name, weight, loss} mappings) -> (config, specs with loss set, weights summing to 1).

    A single teacher's own loss becomes `train.loss`, so its run is exactly a single-teacher run. A teacher whose
    loss differs from `train.loss` uses that loss's default options (`train.loss_options` belong to `train.loss`).
    """
    if not isinstance(value, list) or not value:
        raise ConfigError(f"train.teachers: expected a non-empty list of teacher names or {{name, weight, loss}} "
                          f"mappings, got {value!r}")
    specs = []
    for i, item in enumerate(value):
        key = f"train.teachers[{i}]"
        spec = TeacherSpec(item) if isinstance(item, str) else parse(TeacherSpec, item, key)
        spec = replace(spec, loss=spec.loss or cfg.loss)
        loss_options(spec.loss, teacher_loss_options(cfg, spec), f"{key}.loss")  # an unknown loss fails here
        specs.append(spec)
    names = [s.name for s in specs]
    check(len(set(names)) == len(names), "train.teachers", f"names a teacher twice: {names}")
    if len(specs) == 1 and specs[0].loss != cfg.loss:
        cfg = replace(cfg, loss=specs[0].loss, loss_options={})
    total = sum(s.weight for s in specs)
    return cfg, tuple(replace(s, weight=s.weight / total) for s in specs)


def teacher_loss_options(cfg: TrainConfig, spec: TeacherSpec) -> dict:
    """The options of a teacher's loss: `train.loss_options` for `train.loss`, else that loss's defaults."""
    return cfg.loss_options if spec.loss == cfg.loss else {}


def check_frontend_fit(cfg: TrainConfig, n_mels: int) -> None:
    """A student that appends the input's band statistics must be told the front-end's band count."""
    bands = dict(cfg.student_options or {}).get("summary_bands", 0)
    check(bands in (0, n_mels), "train.student_options.summary_bands",
          f"must be 0 (off) or frontend.n_mels ({n_mels}), got {bands}")
