"""Config name -> loss class; each class carries its frozen `Options` dataclass."""
from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from pipeline.config import ConfigError, parse
from pipeline.losses.clap import ClapLoss
from pipeline.losses.cosine import CosineLoss
from pipeline.losses.kl import KLLoss
from pipeline.losses.l1 import L1Loss
from pipeline.losses.mse import MSELoss

LOSSES: dict[str, type[nn.Module]] = {
    "cosine": CosineLoss,
    "mse": MSELoss,
    "l1": L1Loss,
    "kl": KLLoss,
    "clap": ClapLoss,
}


def loss_options(name: str, options: Mapping[str, Any] | None = None, path: str = "loss") -> Any:
    """Parse `options` into the frozen options dataclass of loss `name`."""
    if name not in LOSSES:
        raise ConfigError(f"{path}: unknown loss {name!r}; valid: {sorted(LOSSES)}")
    return parse(LOSSES[name].Options, options, f"{path}.{name}")


def build_loss(name: str, options: Mapping[str, Any] | Any = None) -> nn.Module:
    """Build loss `name` from a params mapping (or an already-parsed options dataclass)."""
    if name in LOSSES and isinstance(options, LOSSES[name].Options):
        return LOSSES[name](options)
    parsed = loss_options(name, options)
    return LOSSES[name](parsed)
