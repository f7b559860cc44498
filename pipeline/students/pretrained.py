"""Optional initialisation of a student from a local checkpoint file (never downloads)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class InitReport:
    """What a non-strict load left out: model keys not in the file, file keys not in the model, shape clashes."""

    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[str, ...]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint: a plain state dict, or one under a 'state_dict' / 'model' key."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(data).__name__}")
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}


def load_init(model: nn.Module, path: str | Path) -> InitReport:
    """Copy matching tensors from `path` into `model` (non-strict); shape clashes are skipped, not fatal."""
    source = read_state_dict(path)
    target = model.state_dict()
    mismatched = sorted(k for k in source if k in target and source[k].shape != target[k].shape)
    usable = {k: v for k, v in source.items() if k not in mismatched}
    result = model.load_state_dict(usable, strict=False)
    loaded = sorted(k for k in usable if k in target)
    missing = sorted(set(result.missing_keys) - set(mismatched))
    return InitReport(tuple(loaded), tuple(missing), tuple(sorted(result.unexpected_keys)), tuple(mismatched))
