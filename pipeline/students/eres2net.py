"""ERes2Net (Chen et al. 2023): Res2Net-style ResNet with local and global attentional feature fusion.

Stem 3x3 conv, four stages of Res2Net blocks (channel expansion 2, `scale` splits processed as a
hierarchy of 3x3 convs). Local feature fusion (LFF): in stages 3 and 4 each split is merged with the
previous split's output by attentional feature fusion (AFF) instead of addition. Global feature fusion
(GFF): each stage's output is strided down and AFF-fused, bottom-up, with the next stage's output.
The fused map is flattened over (channels, freq) and mean+std pooled over time into a linear embedding.
Activations are ReLU clipped at 20, as in the reference implementation.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pipeline.config import check
from pipeline.students.base import Student
from pipeline.students.layers import init_weights

EXPANSION = 2


@dataclass(frozen=True)
class ERes2NetOptions:
    """Published defaults (m_channels 32, blocks 3-4-6-3, 192-d); n_mels must match the front-end."""

    m_channels: int = 32
    num_blocks: tuple[int, int, int, int] = (3, 4, 6, 3)
    base_width: int = 32
    scale: int = 2
    embed_dim: int = 192
    n_mels: int = 128
    fusion_ratio: int = 4

    def __post_init__(self):
        check(self.m_channels >= 4, "m_channels", "must be >= 4")
        check(len(self.num_blocks) == 4 and all(n >= 1 for n in self.num_blocks), "num_blocks",
              f"need 4 stage depths >= 1, got {self.num_blocks}")
        check(self.base_width >= 1 and self.scale >= 2, "scale", "need base_width >= 1 and scale >= 2")
        check(self.embed_dim >= 1, "embed_dim", "must be >= 1")
        check(self.n_mels >= 1, "n_mels", "must be >= 1")
        check(self.fusion_ratio >= 1, "fusion_ratio", "must be >= 1")


def clipped_relu() -> nn.Module:
    """min(max(x, 0), 20)."""
    return nn.Hardtanh(0.0, 20.0)


class AFF(nn.Module):
    """Attentional feature fusion: x * (1 + tanh(a)) + y * (1 - tanh(a)), a from both inputs."""

    def __init__(self, channels: int, ratio: int):
        super().__init__()
        inner = max(1, channels // ratio)
        self.attention = nn.Sequential(
            nn.Conv2d(2 * channels, inner, 1), nn.BatchNorm2d(inner), nn.SiLU(),
            nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Fuse two (batch, channels, freq, time) maps of equal shape."""
        weight = 1.0 + torch.tanh(self.attention(torch.cat([x, y], dim=1)))  # in (0, 2)
        return x * weight + y * (2.0 - weight)


class Add(nn.Module):
    """Plain addition, the Res2Net merge where no local feature fusion is used."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x + y."""
        return x + y


def conv3x3_bn(width: int) -> nn.Sequential:
    """3x3 conv -> BN -> clipped ReLU, keeping shape."""
    return nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), clipped_relu())


class Res2Block(nn.Module):
    """1x1 (strided) -> hierarchical 3x3 convs over `scale` splits -> 1x1, plus shortcut; AFF merges if `fuse`."""

    def __init__(self, in_ch: int, planes: int, stride: int, base_width: int, scale: int, fuse: bool,
                 fusion_ratio: int):
        super().__init__()
        width = max(1, planes * base_width // 64)
        self.width = width
        self.reduce = nn.Sequential(nn.Conv2d(in_ch, width * scale, 1, stride, bias=False),
                                    nn.BatchNorm2d(width * scale), clipped_relu())
        self.first = conv3x3_bn(width)
        # split i > 0 is merged with branch i-1's output (AFF = local feature fusion), then convolved
        self.merges = nn.ModuleList([AFF(width, fusion_ratio) if fuse else Add() for _ in range(scale - 1)])
        self.convs = nn.ModuleList([conv3x3_bn(width) for _ in range(scale - 1)])
        out_ch = planes * EXPANSION
        self.expand = nn.Sequential(nn.Conv2d(width * scale, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
        self.act = clipped_relu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in_ch, F, T) -> (batch, 2 * planes, F / stride, T / stride)."""
        splits = torch.split(self.reduce(x), self.width, dim=1)
        branch = self.first(splits[0])
        outputs = [branch]
        for i, (merge, conv) in enumerate(zip(self.merges, self.convs)):
            branch = conv(merge(branch, splits[i + 1]))
            outputs.append(branch)
        return self.act(self.expand(torch.cat(outputs, dim=1)) + self.shortcut(x))


class ERes2Net(Student):
    """ERes2Net speaker-embedding network on log-mels; embedding = linear(mean ++ std over time)."""

    Options = ERes2NetOptions

    def __init__(self, options: ERes2NetOptions = ERes2NetOptions()):
        super().__init__()
        m, o = options.m_channels, options
        self.embed_dim = o.embed_dim
        self.stem = nn.Sequential(nn.Conv2d(1, m, 3, padding=1, bias=False), nn.BatchNorm2d(m), nn.ReLU())
        in_ch, stages = m, []
        for index, (depth, stride) in enumerate(zip(o.num_blocks, (1, 2, 2, 2))):
            planes = m * 2 ** index
            blocks = []
            for b in range(depth):
                blocks.append(Res2Block(in_ch, planes, stride if b == 0 else 1, o.base_width, o.scale,
                                        fuse=index >= 2, fusion_ratio=o.fusion_ratio))
                in_ch = planes * EXPANSION
            stages.append(nn.Sequential(*blocks))
        self.first_stage = stages[0]
        self.stages = nn.ModuleList(stages[1:])
        # GFF: stride the fused map of stages <= i down to stage i+1's shape, then AFF with it
        channels = [m * 2 ** i * EXPANSION for i in range(4)]
        self.downsamples = nn.ModuleList([
            nn.Conv2d(channels[i], channels[i + 1], 3, stride=2, padding=1, bias=False) for i in range(3)])
        self.global_fusions = nn.ModuleList([AFF(channels[i + 1], o.fusion_ratio) for i in range(3)])
        freq = o.n_mels
        for _ in range(3):
            freq = (freq + 1) // 2  # stride-2 1x1 / 3x3 convs with same padding
        self.projection = nn.Linear(2 * channels[3] * freq, o.embed_dim)
        init_weights(self)

    def embed(self, logmels: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) -> (batch, embed_dim)."""
        out = self.first_stage(self.stem(logmels.unsqueeze(1)))  # (batch, 2m, F, T)
        fused = out
        for stage, down, fusion in zip(self.stages, self.downsamples, self.global_fusions):
            out = stage(out)
            fused = fusion(out, down(fused))
        return self.projection(stats_pool(fused.flatten(1, 2)))  # fused: (batch, 16m, F/8, T/8)


def stats_pool(x: torch.Tensor) -> torch.Tensor:
    """(batch, features, time) -> (batch, 2 * features): mean ++ std over time (population std, eps 1e-7)."""
    mean = x.mean(dim=-1)
    var = (x - mean.unsqueeze(-1)).pow(2).mean(dim=-1)
    return torch.cat([mean, torch.sqrt(var + 1e-7)], dim=-1)
