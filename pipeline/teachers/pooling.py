"""Pooling a teacher's internal frames (or blocks) over the part of a window that holds real audio."""
from __future__ import annotations

from typing import Callable

import torch


def centred_frames(lengths: torch.Tensor, hop: int) -> torch.Tensor:
    """Frames a centred framing (`center=True`) yields for clips of `lengths` samples: 1 + n // hop.

    They are also the frames of a zero-padded row that an unpadded clip of that length would have.
    """
    return 1 + torch.div(lengths, hop, rounding_mode="floor")


def row_lengths(waveforms: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Real samples per row, (batch,) int64 on the waveforms' device (whole rows when not given)."""
    batch, samples = waveforms.shape
    if lengths is None:
        return torch.full((batch,), samples, dtype=torch.long, device=waveforms.device)
    if lengths.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
    return lengths.to(device=waveforms.device, dtype=torch.long).clamp(1, samples)


def valid_mask(counts: torch.Tensor, total: int) -> torch.Tensor:
    """(batch, total) bool: True for the first `counts[b]` items of row b."""
    return torch.arange(total, device=counts.device)[None, :] < counts[:, None]


def mean_over_valid(fn: Callable[[torch.Tensor], torch.Tensor], items: torch.Tensor, valid: torch.Tensor,
                    chunk: int) -> torch.Tensor:
    """Run `fn` on the valid items only, `chunk` at a time, and average its outputs per row.

    items: (batch, n, ...), valid: (batch, n) bool with at least one True per row -> (batch, dim).
    """
    picked = items[valid]  # (n_valid, ...)
    outputs = torch.cat([fn(picked[i: i + chunk]).float() for i in range(0, len(picked), chunk)])
    # scatter back and sum in a fixed order: index_add_ would use atomics (run-to-run noise) on GPU
    full = outputs.new_zeros(*valid.shape, outputs.shape[1])  # (batch, n, dim)
    full[valid] = outputs
    return full.sum(dim=1) / valid.sum(dim=1, keepdim=True).to(full.dtype)


def masked_mean(values: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Mean of (batch, steps, dim) over the first `counts[b]` steps of each row -> (batch, dim) float32."""
    counts = counts.clamp(1, values.shape[1])
    mask = valid_mask(counts, values.shape[1])[:, :, None].to(torch.float32)
    return (values.float() * mask).sum(dim=1) / counts[:, None].to(torch.float32)
