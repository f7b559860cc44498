"""Training-time augmentations: SpecAugment-style masking and mixup of inputs with their targets.

Every function is a no-op when its strength is zero, so a config can switch each one off, and all
randomness comes from an explicit `torch.Generator`, so a seeded run is reproducible.
"""
from __future__ import annotations

import numpy as np
import torch


def _band_mask(batch: int, size: int, width: int, generator: torch.Generator | None,
               device: torch.device) -> torch.Tensor:
    """(batch, size) bool mask with one band per row, of random width in [0, width] at a random start."""
    widths = torch.randint(0, width + 1, (batch, 1), generator=generator).clamp(max=size)
    starts = (torch.rand(batch, 1, generator=generator) * (size - widths + 1)).long()
    positions = torch.arange(size).unsqueeze(0)  # (1, size)
    return ((positions >= starts) & (positions < starts + widths)).to(device)


def spec_augment(x: torch.Tensor, time_masks: int, time_width: int, freq_masks: int, freq_width: int,
                 generator: torch.Generator | None = None, value: float = 0.0) -> torch.Tensor:
    """Mask random time and mel bands of (batch, mels, frames) spectrograms with `value` (a copy)."""
    batch, mels, frames = x.shape
    masked = torch.zeros(batch, mels, frames, dtype=torch.bool, device=x.device)
    for _ in range(time_masks if time_width > 0 else 0):
        masked |= _band_mask(batch, frames, time_width, generator, x.device).unsqueeze(1)
    for _ in range(freq_masks if freq_width > 0 else 0):
        masked |= _band_mask(batch, mels, freq_width, generator, x.device).unsqueeze(2)
    return x.masked_fill(masked, value)


def mixup(inputs: torch.Tensor, targets: torch.Tensor, alpha: float,
          generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mix each example with a random partner: inputs and targets get the same convex weights.

    Returns (mixed_inputs, mixed_targets, lam) with lam (batch,) the weight of the original example,
    drawn from Beta(alpha, alpha) and folded to lam >= 0.5 so each row stays mostly itself.
    With alpha == 0 the inputs come back unchanged and lam is all ones.
    """
    batch = inputs.shape[0]
    if alpha <= 0:
        return inputs, targets, torch.ones(batch, device=inputs.device)
    # torch's Beta sampler takes no generator: seed numpy from the torch generator instead
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    lam = np.random.default_rng(seed).beta(alpha, alpha, size=batch)
    lam = torch.from_numpy(np.maximum(lam, 1.0 - lam)).to(inputs.device)
    partner = torch.randperm(batch, generator=generator).to(inputs.device)
    return _mix(inputs, lam, partner), _mix(targets, lam, partner), lam.to(inputs.dtype)


def _mix(x: torch.Tensor, lam: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
    """lam * x + (1 - lam) * x[partner], lam broadcast over all but the batch axis."""
    weight = lam.to(x.dtype).reshape((-1,) + (1,) * (x.dim() - 1))
    return weight * x + (1.0 - weight) * x[partner]
