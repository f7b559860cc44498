"""Parameter and multiply-accumulate (MAC) counts.

Counted: one MAC per weight use in Conv1d/Conv2d (output elements x in_channels/groups x kernel size)
and Linear (output elements x in_features), plus whatever a module reports through a
`count_macs(input, output)` method (DyMN's dynamic convs, which run as matmuls and grouped convs).
Not counted: biases, normalisation, activations, pooling, elementwise products and additions.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those requiring gradients)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """MACs of one call of `module`, 0 for layers that are not counted."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if hasattr(module, "count_macs"):
        return int(module.count_macs(inputs[0], output))
    return 0


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """MACs of one eval-mode forward pass of `model` on `example` (batch included)."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += layer_macs(module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total
