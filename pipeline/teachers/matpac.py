"""MATPAC / MATPAC++ (aurianworld/matpac) through its official inference package and a user checkpoint.

Install the runtime with `pip install "git+https://github.com/aurianworld/matpac#subdirectory=inference_matpac"`
(it pins old torch/timm versions: install it with --no-deps into an environment that has timm and einops).
The embedding is the last encoder layer per time step (`pull_time_dimension=False`), averaged over the
steps that overlap real audio. Beware: `get_matpac` picks its config from substrings of the checkpoint
path ('as' selects the AudioSet fine-tuned input size), so keep the released file name and a path
without 'as' elsewhere.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from pipeline.config import check
from pipeline.teachers.base import MissingRuntimeError
from pipeline.fingerprint import weights_fingerprint
from pipeline.teachers.pooling import masked_mean, row_lengths

INSTALL_HINT = ("teacher 'matpac' needs the MATPAC inference package: pip install --no-deps "
                "'git+https://github.com/aurianworld/matpac#subdirectory=inference_matpac' "
                "plus timm and einops")
# its log-mel: 25 ms windows every 10 ms at 16 kHz, not centred
WIN_SECONDS, HOP_SECONDS = 0.025, 0.01


@dataclass(frozen=True)
class MatpacOptions:
    """Options of the `matpac` teacher."""

    checkpoint: str
    # 'precise' is the paper's chunk-by-chunk inference; 'fast' pads chunks into one batch
    inference_type: Literal["precise", "fast"] = "precise"


def get_matpac() -> Any:
    """The package's `get_matpac` factory, or MissingRuntimeError saying what to install."""
    if importlib.util.find_spec("matpac") is None:
        raise MissingRuntimeError(INSTALL_HINT)
    try:
        return importlib.import_module("matpac.model").get_matpac
    except ImportError as exc:
        raise MissingRuntimeError(f"{INSTALL_HINT} (importing matpac.model failed: {exc})") from exc


class MatpacTeacher(nn.Module):
    """MATPAC's last-layer time-step features, averaged over the steps that overlap real audio."""

    name = "matpac"

    def __init__(self, model: nn.Module, options: MatpacOptions, embed_dim: int, fingerprint: str):
        super().__init__()
        self.model, self.options = model, options
        self.sample_rate, self.embed_dim = int(model.cfg.sr), embed_dim
        self.win = int(round(WIN_SECONDS * self.sample_rate))
        self.hop = int(round(HOP_SECONDS * self.sample_rate))
        self.step_frames = int(model.cfg.patch_size)
        self.fingerprint = fingerprint
        self.eval()

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, samples) at 16 kHz -> (batch, dim) mean time-step embedding."""
        steps, _layers = self.model(waveforms.float())  # (batch, steps, dim)
        real = row_lengths(waveforms, lengths)
        frames = 1 + torch.div((real - self.win).clamp(min=0), self.hop, rounding_mode="floor")
        counts = -torch.div(-frames, self.step_frames, rounding_mode="floor")  # ceil
        return masked_mean(steps, counts)


def load_matpac(options: MatpacOptions) -> MatpacTeacher:
    """Build MATPAC on the checkpoint named by the options; the dimension is read off a probe forward."""
    factory = get_matpac()
    check(Path(options.checkpoint).is_file(), "checkpoint", f"MATPAC checkpoint {options.checkpoint} not found")
    model = factory(checkpoint_path=options.checkpoint, inference_type=options.inference_type,
                    pull_time_dimension=False)
    model.eval()
    with torch.inference_mode():
        steps, _layers = model(torch.zeros(1, int(model.cfg.sr)))  # (1, steps, dim)
    settings = {"inference_type": options.inference_type, "pooling": "mean_steps", "layer": "last"}
    return MatpacTeacher(model, options, int(steps.shape[-1]), weights_fingerprint(model.state_dict(), settings))
