"""Optional initialisation of a student from a local checkpoint file (never downloads).

Three kinds of file are recognised: a `student.pt` of this project (backbone under 'student'), a training
`checkpoint.pt` of this project (a Distiller state under 'model': 'student.' keys are the backbone, 'head.' keys
are ignored), and a plain state dict (possibly under 'state_dict' or 'model'), either ours or EfficientAT's
(renamed by `pipeline.students.efficientat`). Files are read with `weights_only=True`: a pickle that would
build any other object is refused.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NamedTuple

import torch
from torch import nn

from pipeline.atomic import file_sha256
from pipeline.config import ConfigError
from pipeline.students import efficientat


class Mismatch(NamedTuple):
    """A tensor present on both sides with different shapes (skipped: the model keeps its own)."""

    name: str
    file_shape: tuple[int, ...]
    model_shape: tuple[int, ...]


@dataclass(frozen=True)
class InitReport:
    """What a non-strict load did, by tensor name.

    loaded: copied into the model; missing: model tensors the file lacks (they keep their fresh initialisation);
    unexpected: file tensors with no place in the model; ignored: file tensors dropped on purpose (a classifier,
    a projection head, built-in constants); mismatched: same name, other shape (skipped).
    """

    path: str
    kind: str  # student | checkpoint | efficientat | state_dict
    sha256: str
    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    ignored: tuple[str, ...]
    mismatched: tuple[Mismatch, ...]

    @property
    def clean(self) -> bool:
        """True when every model tensor was loaded and every file tensor was used or ignored on purpose."""
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, param: str = "init") -> str:
        """Multi-line account naming every missing, unexpected, ignored and mis-shaped tensor."""
        lines = [f"{param}: {self.path} ({self.kind}, sha256 {self.sha256[:16]}): loaded {len(self.loaded)} tensors"]
        for label, names in (("missing from the file (kept fresh)", self.missing),
                             ("unexpected (not in the model, ignored)", self.unexpected),
                             ("ignored on purpose", self.ignored)):
            if names:
                lines.append(f"  {label}: {len(names)}: {', '.join(names)}")
        if self.mismatched:
            shapes = ", ".join(f"{m.name} file {list(m.file_shape)} vs model {list(m.model_shape)}"
                               for m in self.mismatched)
            lines.append(f"  mis-shaped (skipped): {len(self.mismatched)}: {shapes}")
        return "\n".join(lines)


def _tensors(data: Mapping) -> dict[str, torch.Tensor]:
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}


def _is_state(value) -> bool:
    return isinstance(value, Mapping) and any(isinstance(v, torch.Tensor) for v in value.values())


def read_init(path: str | Path) -> tuple[str, dict[str, torch.Tensor], tuple[str, ...]]:
    """(kind, backbone tensors, ignored names) of a student.pt, a checkpoint.pt or a plain state dict."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a state dict, got {type(data).__name__}")
    if _is_state(data.get("student")):  # student.pt (pipeline.train.loop.finish): the head is a separate entry
        head = tuple(sorted(f"head.{k}" for k in _tensors(data.get("head") or {})))
        return "student", _tensors(data["student"]), head
    model = data.get("model")
    if _is_state(model) and any(k.startswith("student.") for k in model):  # checkpoint.pt: a Distiller state
        state = _tensors(model)
        backbone = {k[len("student."):]: v for k, v in state.items() if k.startswith("student.")}
        others = {k: v for k, v in state.items() if not k.startswith(("student.", "head."))}
        return "checkpoint", {**others, **backbone}, tuple(sorted(k for k in state if k.startswith("head.")))
    for key in ("state_dict", "model"):
        if _is_state(data.get(key)):
            data = data[key]
            break
    return "state_dict", _tensors(data), ()


def load_init(model: nn.Module, path: str | Path, require_any: bool = False, param: str = "init") -> InitReport:
    """Copy the tensors of `path` that fit `model` by name and shape; everything else is reported, not fatal.

    A missing file is always an error; with `require_any`, so is a file of which no tensor fits. Both name `param`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{param}: no checkpoint file at {path}")
    kind, source, ignored = read_init(path)
    target = model.state_dict()
    if kind == "state_dict" and efficientat.looks_like(source):
        kind = "efficientat"
        source, dropped = efficientat.convert(source, {k: v.shape for k, v in target.items()})
        ignored = tuple(sorted(ignored + dropped))
    mismatched = tuple(Mismatch(k, tuple(v.shape), tuple(target[k].shape)) for k, v in sorted(source.items())
                       if k in target and v.shape != target[k].shape)
    skipped = {m.name for m in mismatched}
    usable = {k: v for k, v in source.items() if k in target and k not in skipped}
    if require_any and not usable:
        raise ConfigError(f"{param}: {path} ({kind}, {len(source)} tensors, {len(mismatched)} mis-shaped) holds no "
                          f"tensor this {type(model).__name__} can use; is it a checkpoint of this architecture?")
    model.load_state_dict(usable, strict=False)
    return InitReport(str(path), kind, file_sha256(path), tuple(sorted(usable)),
                      tuple(sorted(set(target) - set(usable) - skipped)), tuple(sorted(set(source) - set(target))),
                      ignored, mismatched)


def init_student(model: nn.Module, path: str | Path, param: str = "init") -> InitReport:
    """`load_init` with `require_any`, then a warning with the full account (a run started from a file says so)."""
    report = load_init(model, path, require_any=True, param=param)
    warnings.warn(report.describe(param), stacklevel=2)
    return report
