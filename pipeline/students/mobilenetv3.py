"""Audio MobileNetV3 as in EfficientAT (Schmid et al. 2023): MobileNetV3-Large on 1-channel log-mels.

Stem 3x3/2 conv, the 15 inverted-residual blocks of MobileNetV3-Large (channel squeeze-excitation in the
blocks the table marks), a 1x1 conv to 6x the last block's channels (960 at width 1.0), and global mean
pooling over frequency and time as the embedding (or mean + std over time: `pooling: meanstd`). The classifier MLP of the paper is left out.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pipeline.config import check
from pipeline.students.base import Student
from pipeline.students.layers import ConvNormAct, init_weights, make_divisible
from pipeline.students.pooling import POOLINGS, embedding, frame_embedding, pooled_dim

# MobileNetV3-Large: (kernel, expanded, out, attention, activation, stride slot); channels at width 1.0.
# Attention is squeeze-excitation here and coordinate attention in DyMN; a stride slot indexes the
# configurable `strides` (None: stride 1).
LARGE_TABLE = (
    (3, 16, 16, False, "RE", None),
    (3, 64, 24, False, "RE", 0),
    (3, 72, 24, False, "RE", None),
    (5, 72, 40, True, "RE", 1),
    (5, 120, 40, True, "RE", None),
    (5, 120, 40, True, "RE", None),
    (3, 240, 80, False, "HS", 2),
    (3, 200, 80, False, "HS", None),
    (3, 184, 80, False, "HS", None),
    (3, 184, 80, False, "HS", None),
    (3, 480, 112, True, "HS", None),
    (3, 672, 112, True, "HS", None),
    (5, 672, 160, True, "HS", 3),
    (5, 960, 160, True, "HS", None),
    (5, 960, 160, True, "HS", None),
)
STEM_CHANNELS = 16
LAST_CONV_RATIO = 6


def last_conv_channels(last_block_channels: int, last_channels: int) -> int:
    """Output channels of the last 1x1 conv (the learnt part of the embedding): `last_channels`, or 0 for
    EfficientAT's six times the last block's channels."""
    return last_channels or LAST_CONV_RATIO * last_block_channels


@dataclass(frozen=True)
class BlockConfig:
    """One inverted-residual block, channels already scaled by the width multiplier."""

    in_ch: int
    kernel: int
    exp_ch: int
    out_ch: int
    attention: bool
    act: str
    stride: int


def block_configs(width: float, strides: tuple[int, ...]) -> list[BlockConfig]:
    """The 15 blocks of MobileNetV3-Large at `width`, with the 4 strided blocks using `strides`."""
    in_ch = make_divisible(STEM_CHANNELS * width)
    configs = []
    for kernel, exp, out, attention, act, slot in LARGE_TABLE:
        stride = 1 if slot is None else strides[slot]
        out_ch = make_divisible(out * width)
        configs.append(BlockConfig(in_ch, kernel, make_divisible(exp * width), out_ch, attention, act, stride))
        in_ch = out_ch
    return configs


def check_width_and_strides(width: float, strides: tuple[int, ...]) -> None:
    """Shared option checks for the MobileNet-family students."""
    check(0.0 < width <= 4.0, "width", f"must be in (0, 4], got {width}")
    check(len(strides) == 4 and all(s in (1, 2) for s in strides), "strides",
          f"need 4 strides, each 1 or 2, got {strides}")


@dataclass(frozen=True)
class MobileNetV3Options:
    """Width multiplier (channels rounded to multiples of 8), strides of the 4 strided blocks, SE ratio."""

    width: float = 1.0
    strides: tuple[int, int, int, int] = (2, 2, 2, 2)
    se_ratio: int = 4
    pooling: str = "mean"  # clip pooling of the last map (pipeline.students.pooling): mean or meanstd
    summary_bands: int = 0  # > 0: append the input's log-mel band statistics (that many bands)
    last_channels: int = 0  # channels of the last 1x1 conv, the learnt embedding's width (0: 6 x the last block's)

    def __post_init__(self):
        check_width_and_strides(self.width, self.strides)
        check(self.se_ratio >= 1, "se_ratio", "must be >= 1")
        check(self.last_channels >= 0, "last_channels", f"must be >= 0 (0: the default), got {self.last_channels}")
        check(self.pooling in POOLINGS, "pooling", f"must be one of {list(POOLINGS)}, got {self.pooling!r}")
        check(self.summary_bands >= 0, "summary_bands", f"must be >= 0 (0: off), got {self.summary_bands}")


class SqueezeExcite(nn.Module):
    """Channel gates from the (freq, time) mean: Linear -> ReLU -> Linear -> sigmoid."""

    def __init__(self, channels: int, ratio: int):
        super().__init__()
        squeeze = make_divisible(channels // ratio)
        self.fc1 = nn.Linear(channels, squeeze)
        self.fc2 = nn.Linear(squeeze, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rescale each channel of (batch, channels, freq, time)."""
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))  # (batch, channels)
        return x * gate[:, :, None, None]


class InvertedResidual(nn.Module):
    """1x1 expand -> depthwise kxk (strided) -> optional SE -> 1x1 project, residual when shapes match."""

    def __init__(self, cfg: BlockConfig, se_ratio: int):
        super().__init__()
        layers: list[nn.Module] = []
        if cfg.exp_ch != cfg.in_ch:
            layers.append(ConvNormAct(cfg.in_ch, cfg.exp_ch, act=cfg.act))
        layers.append(ConvNormAct(cfg.exp_ch, cfg.exp_ch, cfg.kernel, cfg.stride, groups=cfg.exp_ch, act=cfg.act))
        if cfg.attention:
            layers.append(SqueezeExcite(cfg.exp_ch, se_ratio))
        layers.append(ConvNormAct(cfg.exp_ch, cfg.out_ch))
        self.block = nn.Sequential(*layers)
        self.residual = cfg.stride == 1 and cfg.in_ch == cfg.out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in_ch, freq, time) -> (batch, out_ch, freq / stride, time / stride)."""
        out = self.block(x)
        return out + x if self.residual else out


class MobileNetV3(Student):
    """EfficientAT's audio MobileNetV3 backbone; embedding = the last feature map pooled (`options.pooling`)."""

    Options = MobileNetV3Options

    def __init__(self, options: MobileNetV3Options = MobileNetV3Options()):
        super().__init__()
        configs = block_configs(options.width, options.strides)
        last_ch = configs[-1].out_ch
        out_ch = last_conv_channels(last_ch, options.last_channels)
        self.pooling, self.summary_bands = options.pooling, options.summary_bands
        self.embed_dim = pooled_dim(out_ch, options.pooling, options.summary_bands)
        self.features = nn.Sequential(
            ConvNormAct(1, configs[0].in_ch, 3, 2, act="HS"),
            *[InvertedResidual(cfg, options.se_ratio) for cfg in configs],
            ConvNormAct(last_ch, out_ch, act="HS"),
        )
        init_weights(self)

    def embed(self, logmels: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) -> (batch, embed_dim)."""
        return embedding(self.features(logmels.unsqueeze(1)), logmels, self.pooling, self.summary_bands)

    def frames(self, logmels: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) -> (batch, steps, embed_dim), one row per time step of the last map."""
        return frame_embedding(self.features(logmels.unsqueeze(1)), logmels, self.pooling, self.summary_bands)
