"""The `student.pt` format written by training: state dicts plus JSON config, metrics and history.

    student  state dict of the backbone (log-mels -> embedding)
    head     state dict of the projection head (embedding -> teacher space, or label logits); with several
             teachers one head per teacher (`TeacherHeads`), their outputs side by side
    config   JSON: how to rebuild both (see `CheckpointConfig`) plus provenance (teachers, fingerprints)
    metrics  JSON: the training metrics
    history  JSON: per-epoch metrics
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from pipeline.atomic import atomic_path
from pipeline.audio.logmel import LogMelConfig
from pipeline.config import check, parse, to_dict


@dataclass(frozen=True)
class CheckpointConfig:
    """What rebuilds a student from its checkpoint; keys the code does not need are kept in `meta`."""

    student: str
    frontend: LogMelConfig
    window_samples: int               # training example length at the front-end rate
    embed_dim: int
    out_dim: int
    student_options: dict = field(default_factory=dict)
    head_hidden: tuple[int, ...] = (512,)
    head_inputs: int = 0              # leading embedding columns the head reads (0: all; train.head_input)
    objective: str = "distill"
    classes: tuple[str, ...] | None = None
    teacher_dims: tuple[int, ...] = ()  # one head per teacher (meta `teachers`, in order); () = one head
    meta: dict = field(default_factory=dict)  # teachers, teacher/store/corpus fingerprints ...

    def __post_init__(self):
        check(self.window_samples >= 1, "config.window_samples", f"must be >= 1, got {self.window_samples}")
        check(0 <= self.head_inputs <= self.embed_dim, "config.head_inputs",
              f"must be in [0, embed_dim {self.embed_dim}], got {self.head_inputs}")
        check(not self.teacher_dims or sum(self.teacher_dims) == self.out_dim, "config.teacher_dims",
              f"must add up to out_dim {self.out_dim}, got {list(self.teacher_dims)}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CheckpointConfig":
        """Known keys become fields, every other key goes to `meta`."""
        names = {f.name for f in dataclasses.fields(cls)} - {"meta"}
        known = {k: v for k, v in data.items() if k in names}
        meta = {k: v for k, v in data.items() if k not in names}
        return parse(cls, {**known, "meta": {**meta, **data.get("meta", {})}}, "student.pt config")

    def to_dict(self) -> dict:
        """The flat JSON-able form stored in the checkpoint (meta keys at the top level, as training writes)."""
        flat = {k: v for k, v in to_dict(self).items() if k != "meta"}
        if not self.teacher_dims:  # one-head checkpoints keep their format exactly
            del flat["teacher_dims"]
        if not self.head_inputs:  # so do heads that read the whole embedding
            del flat["head_inputs"]
        return {**flat, **self.meta}


@dataclass(frozen=True)
class Checkpoint:
    """A loaded `student.pt`: tensors on the CPU plus its parsed config."""

    student: dict
    head: dict
    config: CheckpointConfig
    metrics: dict
    history: list
    target_mean: torch.Tensor | None = None  # (out_dim,) when training normalised the targets
    target_std: torch.Tensor | None = None
    target_norm: torch.Tensor | None = None  # () typical norm of a normalised target; (heads,) with several


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Load `student.pt` safely (weights_only) onto the CPU."""
    path = Path(path)
    if path.is_dir():
        path = path / "student.pt"
    if not path.exists():
        raise FileNotFoundError(f"no student checkpoint at {path}; run `ssondo train` first")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in ("student", "head", "config") if k not in raw]
    if missing:
        raise ValueError(f"{path} is not a student checkpoint (missing {missing})")
    return Checkpoint(raw["student"], raw["head"], CheckpointConfig.from_dict(json.loads(raw["config"])),
                      json.loads(raw.get("metrics", "{}")), json.loads(raw.get("history", "[]")),
                      raw.get("target_mean"), raw.get("target_std"), raw.get("target_norm"))


def save_atomic(obj: dict, path: str | Path) -> Path:
    """torch.save whole or not at all: a kill, a full disk or a read-only folder keeps the previous file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # through a Python file: a full disk raises OSError(ENOSPC) rather than torch's opaque "unexpected pos"
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
    return path


def save_student(path: str | Path, student: nn.Module, head: nn.Module, config: Mapping[str, Any] | CheckpointConfig,
                 metrics: Mapping[str, Any] | None = None, history: list | None = None,
                 target_norm: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Write `student.pt` atomically; `config` is validated before anything is written.

    `target_norm` ({target_mean, target_std, target_norm}) is how training normalised the targets, so that
    projections can be mapped back into the teacher's space.
    """
    cfg = config if isinstance(config, CheckpointConfig) else CheckpointConfig.from_dict(config)
    payload = {"student": student.state_dict(), "head": head.state_dict(), "config": json.dumps(cfg.to_dict()),
               "metrics": json.dumps(dict(metrics or {})), "history": json.dumps(list(history or []))}
    payload.update({k: v.detach().clone() for k, v in (target_norm or {}).items()})
    return save_atomic(payload, path)
