"""Dynamic MobileNet (DyMN, Schmid et al. 2024) on the MobileNetV3-Large block table.

Every block derives a context from its input: mean over time and mean over frequency are stacked into
one sequence, mapped by a shared 1x1 conv (+BN+hardswish) and averaged into a context vector. The
context drives dynamic convolution (K kernels mixed by a temperature softmax, in all three convs),
dynamic ReLU (DyReLU-B after the depthwise conv) and coordinate attention (frequency and time gates,
which replace squeeze-excitation).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.config import check
from pipeline.students.base import Student
from pipeline.students.layers import ConvNormAct, activation, batch_norm, init_weights, make_divisible
from pipeline.students.mobilenetv3 import BlockConfig, block_configs, check_width_and_strides, last_conv_channels
from pipeline.students.pooling import POOLINGS, embedding, frame_embedding, pooled_dim


@dataclass(frozen=True)
class DyMNOptions:
    """Width/strides as MobileNetV3; K kernels, M ReLU pieces, context size; kernel-attention temperature.

    The temperature falls linearly from `temp_start` to `temp_end` over `temp_epochs` epochs
    (`DyMN.set_epoch`), a simplification of the paper's two-slope schedule.
    """

    width: float = 1.0
    strides: tuple[int, int, int, int] = (2, 2, 2, 2)
    kernels: int = 4
    relu_pieces: int = 2
    context_ratio: int = 4
    min_context: int = 32
    max_context: int = 128
    temp_start: float = 30.0
    temp_end: float = 1.0
    temp_epochs: int = 30
    pooling: str = "mean"  # clip pooling of the last map (pipeline.students.pooling): mean or meanstd
    summary_bands: int = 0  # > 0: append the input's log-mel band statistics (that many bands)
    last_channels: int = 0  # channels of the last 1x1 conv, the learnt embedding's width (0: 6 x the last block's)

    def __post_init__(self):
        check_width_and_strides(self.width, self.strides)
        check(self.kernels >= 1, "kernels", "must be >= 1")
        check(self.last_channels >= 0, "last_channels", f"must be >= 0 (0: the default), got {self.last_channels}")
        check(self.pooling in POOLINGS, "pooling", f"must be one of {list(POOLINGS)}, got {self.pooling!r}")
        check(self.summary_bands >= 0, "summary_bands", f"must be >= 0 (0: off), got {self.summary_bands}")
        check(self.relu_pieces >= 1, "relu_pieces", "must be >= 1")
        check(self.context_ratio >= 1, "context_ratio", "must be >= 1")
        check(0 < self.min_context <= self.max_context, "min_context", "need 0 < min_context <= max_context")
        check(self.temp_start >= self.temp_end > 0, "temp_end", "need temp_start >= temp_end > 0")
        check(self.temp_epochs >= 0, "temp_epochs", "must be >= 0")


class DynamicConv(nn.Module):
    """Pointwise or depthwise conv whose kernel is a per-example attention mix of K kernels.

    Pointwise: the K kernels are mixed first and applied with a batched matmul. Depthwise: all K kernels
    run as one grouped conv and their outputs are mixed (same result by linearity). Both keep the
    batch size dynamic for ONNX export, unlike folding the batch into conv groups.
    """

    def __init__(self, in_ch: int, out_ch: int, context_dim: int, kernels: int, kernel_size: int = 1,
                 stride: int = 1, depthwise: bool = False, temperature: float = 1.0):
        super().__init__()
        if depthwise and in_ch != out_ch:
            raise ValueError("a depthwise dynamic conv needs in_ch == out_ch")
        if not depthwise and (kernel_size != 1 or stride != 1):
            raise ValueError("non-depthwise dynamic convs are pointwise (1x1, stride 1)")
        self.out_ch, self.kernels, self.kernel_size, self.stride = out_ch, kernels, kernel_size, stride
        self.depthwise = depthwise
        fan_in = 1 if depthwise else in_ch
        weight = torch.empty(kernels, out_ch, fan_in, kernel_size, kernel_size)
        for k in range(kernels):
            nn.init.kaiming_normal_(weight[k], mode="fan_out")
        self.weight = nn.Parameter(weight)
        self.attention = nn.Linear(context_dim, kernels)
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """(batch, in_ch, freq, time), context (batch, context_dim) -> (batch, out_ch, freq', time')."""
        attn = torch.softmax(self.attention(context) / self.temperature, dim=-1)  # (batch, K)
        batch, _, freq, time = x.shape
        if self.depthwise:
            # (out_ch * K, 1, k, k): output channel c*K + k applies kernel k to input channel c
            stacked = self.weight.transpose(0, 1).reshape(-1, 1, self.kernel_size, self.kernel_size)
            out = F.conv2d(x, stacked, stride=self.stride, padding=(self.kernel_size - 1) // 2, groups=self.out_ch)
            out = out.reshape(batch, self.out_ch, self.kernels, out.shape[2], out.shape[3])
            return (out * attn[:, None, :, None, None]).sum(dim=2)
        mixed = (attn @ self.weight.reshape(self.kernels, -1)).reshape(batch, self.out_ch, -1)  # (batch, out, in)
        return torch.matmul(mixed, x.reshape(batch, -1, freq * time)).reshape(batch, self.out_ch, freq, time)

    def count_macs(self, x: torch.Tensor, out: torch.Tensor) -> int:
        """Multiplies executed besides the attention Linear (counted by its own hook).

        The depthwise case runs all K kernels, so this is above the paper's count, which treats a
        dynamic conv as one mixed kernel plus the mixing.
        """
        batch, out_ch, freq, time = out.shape
        if self.depthwise:
            # K convolutions plus the weighted sum over K
            return batch * out_ch * self.kernels * freq * time * (self.kernel_size ** 2 + 1)
        per_example_weights = self.weight[0].numel()
        return batch * self.kernels * per_example_weights + batch * per_example_weights * freq * time


class DyReLU(nn.Module):
    """DyReLU-B: per-channel max over M context-dependent lines a_m * x + b_m."""

    def __init__(self, channels: int, context_dim: int, pieces: int):
        super().__init__()
        self.channels, self.pieces = channels, pieces
        self.coefs = nn.Linear(context_dim, 2 * pieces * channels)
        # the residual coefficients start as plain ReLU: slopes (1, 0, ...), intercepts 0
        self.register_buffer("slope_init", torch.eye(1, pieces).squeeze(0))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """(batch, channels, freq, time) -> same shape."""
        theta = 2.0 * torch.sigmoid(self.coefs(context)) - 1.0  # (batch, 2 * M * channels) in [-1, 1]
        theta = theta.reshape(-1, self.channels, 1, 1, 2 * self.pieces)
        slopes = theta[..., : self.pieces] + self.slope_init
        intercepts = 0.5 * theta[..., self.pieces:]
        return (x.unsqueeze(-1) * slopes + intercepts).amax(dim=-1)


class ContextGen(nn.Module):
    """Block context: vector (batch, H) for Dy-Conv/Dy-ReLU, frequency and time gates for coordinate attention."""

    def __init__(self, in_ch: int, context_dim: int, exp_ch: int, stride: int):
        super().__init__()
        self.joint = ConvNormAct(in_ch, context_dim, act="HS")
        self.to_freq = nn.Conv2d(context_dim, exp_ch, 1)
        self.to_time = nn.Conv2d(context_dim, exp_ch, 1)
        # the gates must match the depthwise conv's strided output
        self.pool_freq = nn.AvgPool2d((3, 1), (stride, 1), (1, 0)) if stride > 1 else nn.Identity()
        self.pool_time = nn.AvgPool2d((1, 3), (1, stride), (0, 1)) if stride > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(batch, in_ch, F, T) -> context (batch, H), gates (batch, exp, F', 1) and (batch, exp, 1, T')."""
        n_freq = x.shape[2]
        by_freq = x.mean(dim=3, keepdim=True)  # (batch, in, F, 1)
        by_time = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (batch, in, T, 1)
        seq = self.joint(torch.cat([by_freq, by_time], dim=2))  # (batch, H, F + T, 1)
        context = seq.mean(dim=(2, 3))
        gate_freq = self.to_freq(self.pool_freq(seq[:, :, :n_freq]))
        gate_time = self.to_time(self.pool_time(seq[:, :, n_freq:].transpose(2, 3)))
        return context, gate_freq, gate_time


def context_size(cfg: BlockConfig, opts: DyMNOptions) -> int:
    """Context width H: expanded channels / ratio, clipped to [min, max] scaled by the width multiplier."""
    low = make_divisible(opts.min_context * opts.width)
    high = make_divisible(opts.max_context * opts.width)
    return min(max(make_divisible(cfg.exp_ch // opts.context_ratio), low), high)


class DyBlock(nn.Module):
    """Inverted residual with dynamic convs, DyReLU after the depthwise conv and coordinate attention."""

    def __init__(self, cfg: BlockConfig, opts: DyMNOptions):
        super().__init__()
        context_dim = context_size(cfg, opts)
        conv = dict(context_dim=context_dim, kernels=opts.kernels, temperature=opts.temp_start)
        self.context = ContextGen(cfg.in_ch, context_dim, cfg.exp_ch, cfg.stride)
        self.expand, self.expand_norm = None, None
        if cfg.exp_ch != cfg.in_ch:
            self.expand = DynamicConv(cfg.in_ch, cfg.exp_ch, **conv)
            self.expand_norm = nn.Sequential(batch_norm(cfg.exp_ch), activation(cfg.act))
        self.depth = DynamicConv(cfg.exp_ch, cfg.exp_ch, kernel_size=cfg.kernel, stride=cfg.stride,
                                 depthwise=True, **conv)
        self.depth_norm = batch_norm(cfg.exp_ch)
        self.depth_act = DyReLU(cfg.exp_ch, context_dim, opts.relu_pieces)
        self.project = DynamicConv(cfg.exp_ch, cfg.out_ch, **conv)
        self.project_norm = batch_norm(cfg.out_ch)
        self.residual = cfg.stride == 1 and cfg.in_ch == cfg.out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in_ch, freq, time) -> (batch, out_ch, freq / stride, time / stride)."""
        context, gate_freq, gate_time = self.context(x)
        out = x
        if self.expand is not None and self.expand_norm is not None:
            out = self.expand_norm(self.expand(out, context))
        out = self.depth_act(self.depth_norm(self.depth(out, context)), context)
        out = out * torch.sigmoid(gate_freq) * torch.sigmoid(gate_time)
        out = self.project_norm(self.project(out, context))
        return out + x if self.residual else out


class DyMN(Student):
    """Dynamic MobileNet backbone; embedding = the last feature map pooled (960-d mean at width 1.0)."""

    Options = DyMNOptions

    def __init__(self, options: DyMNOptions = DyMNOptions()):
        super().__init__()
        self.temp_start, self.temp_end, self.temp_epochs = options.temp_start, options.temp_end, options.temp_epochs
        configs = block_configs(options.width, options.strides)
        last_ch = configs[-1].out_ch
        out_ch = last_conv_channels(last_ch, options.last_channels)
        self.pooling, self.summary_bands = options.pooling, options.summary_bands
        self.embed_dim = pooled_dim(out_ch, options.pooling, options.summary_bands)
        self.stem = ConvNormAct(1, configs[0].in_ch, 3, 2, act="HS")
        self.blocks = nn.Sequential(*[DyBlock(cfg, options) for cfg in configs])
        self.last = ConvNormAct(last_ch, out_ch, act="HS")
        init_weights(self)

    def embed(self, logmels: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) -> (batch, embed_dim)."""
        features = self.last(self.blocks(self.stem(logmels.unsqueeze(1))))
        return embedding(features, logmels, self.pooling, self.summary_bands)

    def frames(self, logmels: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) -> (batch, steps, embed_dim), one row per time step of the last map."""
        features = self.last(self.blocks(self.stem(logmels.unsqueeze(1))))
        return frame_embedding(features, logmels, self.pooling, self.summary_bands)

    def set_epoch(self, epoch: int) -> None:
        """Anneal the kernel-attention temperature linearly over the first `temp_epochs` epochs."""
        progress = 1.0 if self.temp_epochs == 0 else min(1.0, epoch / self.temp_epochs)
        temperature = self.temp_start + (self.temp_end - self.temp_start) * progress
        for module in self.modules():
            if isinstance(module, DynamicConv):
                module.temperature.fill_(temperature)
