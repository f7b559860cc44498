"""Building blocks shared by the CNN students."""
from __future__ import annotations

from torch import nn


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of `divisor`, never dropping more than 10% (MobileNet rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """BatchNorm with EfficientAT's eps; torch's default momentum suits our short training runs."""
    return nn.BatchNorm2d(channels, eps=1e-3)


def activation(name: str) -> nn.Module:
    """'RE' -> ReLU, 'HS' -> Hardswish (the MobileNetV3 table's notation)."""
    return nn.Hardswish() if name == "HS" else nn.ReLU()


class ConvNormAct(nn.Sequential):
    """Conv2d (same padding, no bias) -> BatchNorm -> optional activation."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: str | None = None):
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel, stride, padding=(kernel - 1) // 2, groups=groups, bias=False),
            batch_norm(out_ch),
        ]
        if act is not None:
            layers.append(activation(act))
        super().__init__(*layers)


def init_weights(model: nn.Module) -> None:
    """EfficientAT's initialisation: Kaiming (fan-out) convs, unit norms, small-normal linears."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.LayerNorm)) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
