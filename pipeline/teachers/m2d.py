"""Masked Modeling Duo (M2D, nttcslab/m2d) through its official runtime and a user-given checkpoint.

The runtime is not on PyPI: install `timm einops nnAudio`, then put `examples/portable_m2d.py` of
https://github.com/nttcslab/m2d on PYTHONPATH (or the repository root, so `m2d.runtime_audio` imports).
M2D reads the input size and sample rate from the checkpoint's folder name, so keep the released
folder layout (e.g. `m2d_vit_base-80x608p16x16-221006-mr7/checkpoint-300.pth`).
The embedding is the runtime's per-time-step features (`encode`) averaged over steps with real audio.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.config import check
from pipeline.teachers.base import MissingRuntimeError
from pipeline.fingerprint import weights_fingerprint
from pipeline.teachers.pooling import centred_frames, masked_mean, row_lengths

INSTALL_HINT = ("teacher 'm2d' needs the M2D runtime: pip install timm einops nnAudio, then put "
                "examples/portable_m2d.py from https://github.com/nttcslab/m2d on PYTHONPATH "
                "(or add a clone's root so that `m2d.runtime_audio` imports)")
RUNTIMES = (("portable_m2d", "PortableM2D"), ("m2d.runtime_audio", "RuntimeM2D"))


@dataclass(frozen=True)
class M2DOptions:
    """Options of the `m2d` teacher."""

    checkpoint: str


def runtime_class() -> Any:
    """The first installed M2D runtime class, or MissingRuntimeError saying what to install."""
    for module_name, cls in RUNTIMES:
        try:
            found = importlib.util.find_spec(module_name) is not None
        except ModuleNotFoundError:  # parent package missing
            found = False
        if found:
            try:
                return getattr(importlib.import_module(module_name), cls)
            except ImportError as exc:
                raise MissingRuntimeError(f"{INSTALL_HINT} (importing {module_name} failed: {exc})") from exc
    raise MissingRuntimeError(INSTALL_HINT)


class M2DTeacher(nn.Module):
    """The M2D runtime's time-step features, averaged over the steps that overlap real audio."""

    name = "m2d"

    def __init__(self, runtime: nn.Module, options: M2DOptions, fingerprint: str):
        super().__init__()
        self.runtime, self.options = runtime, options
        cfg = runtime.cfg
        self.sample_rate, self.embed_dim = int(cfg.sample_rate), int(cfg.feature_d)
        # one output step per patch column of the (centred) log-mel
        self.frame_hop, self.step_frames = int(cfg.hop_size), int(cfg.patch_size[1])
        self.fingerprint = fingerprint
        self.eval()

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, samples) -> (batch, feature_d) mean time-step embedding."""
        steps = self.runtime.encode(waveforms.float())  # (batch, steps, dim)
        frames = centred_frames(row_lengths(waveforms, lengths), self.frame_hop)
        counts = -torch.div(-frames, self.step_frames, rounding_mode="floor")  # ceil
        return masked_mean(steps, counts)


def load_m2d(options: M2DOptions) -> M2DTeacher:
    """Build the M2D runtime on the checkpoint named by the options."""
    cls = runtime_class()
    check(Path(options.checkpoint).is_file(), "checkpoint", f"M2D checkpoint {options.checkpoint} not found")
    runtime = cls(weight_file=options.checkpoint)
    settings = {"runtime": f"{cls.__module__}.{cls.__name__}", "pooling": "mean_steps"}
    return M2DTeacher(runtime, options, weights_fingerprint(runtime.state_dict(), settings))
