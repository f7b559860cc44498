"""The live objects of a training run: model (DDP-wrapped when distributed), front-end, loss and optimiser."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pipeline import distributed
from pipeline.audio.logmel import LogMel, LogMelConfig
from pipeline.train.bank import LogMelBank, logmel_bank
from pipeline.train.config import TrainConfig
from pipeline.train.data import TrainData
from pipeline.train.model import Distiller, build_models, build_objective, make_optimizer


@dataclass
class Runtime:
    """The live objects of a run."""

    model: Distiller
    wrapped: nn.Module
    frontend: LogMel
    loss: nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    info: distributed.DistInfo
    bank: LogMelBank | None = None  # precomputed log-mels of the fixed examples (train.cache_logmels)


def setup_runtime(cfg: TrainConfig, data: TrainData, frontend_cfg: LogMelConfig,
                  info: distributed.DistInfo) -> Runtime:
    """Models, front-end, loss and optimiser on the chosen device (DDP-wrapped when world > 1)."""
    device = distributed.pick_device(cfg.device)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    dims = data.targets.dims if data.heads else ()  # per-teacher heads, or today's one head
    model = build_models(cfg, data.targets.dim, cfg.seed, dims, frontend_cfg.n_mels).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    spectrum_dim = model.spectrum.dim if model.spectrum is not None else 0
    loss = build_objective(cfg, data.heads, dims, spectrum_dim, model.spread_columns).to(device)
    params = list(model.parameters()) + list(loss.parameters())
    wrapped: nn.Module = model
    if info.world > 1:
        wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        wrapped = torch.compile(wrapped)
    frontend = LogMel(frontend_cfg)
    bank = logmel_bank(cfg, data, frontend) if cfg.cache_logmels else None
    return Runtime(model, wrapped, frontend.to(device), loss, make_optimizer(cfg, params), device, info, bank)
