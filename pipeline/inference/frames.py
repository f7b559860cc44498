"""Frame-level embeddings: one row per step of the student's last feature map, for audio of any length.

The student was trained on windows of `window` samples, and its squeeze-excitation gates average over the
whole window: a feature map computed over a 10-minute input would not be the map the student learnt, and it
would change with the input's length. So the audio is cut into training-length windows with 50% overlap
(the first starting a quarter window before the audio), each window gives `steps` frame embeddings
(`Student.frames`), and each window keeps only the steps whose centres fall in its middle half, where the
network sees context on both sides. The kept steps tile the audio on a regular grid (a 2 s window of the
demo student has 4 steps of 0.5 s: 2 kept per window, one embedding every 0.5 s), every window is computed
independently, so the result does not depend on how the audio is batched or chunked, and the cost is 2 s of
student input per second of audio (timestamp embeddings from a 1 s window every 50 ms cost 20 s).

A finer grid (HEAR asks for 50 ms) is read off the native one by linear interpolation between neighbouring
steps; the native step is the resolution of what the embeddings can say.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

# training-length windows per forward pass: on one CPU thread 8 to 32 windows of 2 s ran equally fast within the
# noise, 32 the fastest median of three runs; 4 and 64 slower (`python -m benchmarks.frames`, BENCHMARKS.md)
FRAME_BATCH = 32

FrameFn = Callable[[torch.Tensor], torch.Tensor]  # (batch, window) waveforms -> (batch, steps, dim)


def kept_steps(steps: int, window: int) -> tuple[list[int], list[float]]:
    """Indices of the steps a window keeps (centres in its middle half) and their centres in samples from the
    window's start."""
    centres = [(j + 0.5) * window / steps for j in range(steps)]
    quarter, half = window // 4, window // 2
    kept = [j for j, c in enumerate(centres) if quarter <= c < quarter + half]
    if not kept:  # a one-step map: its only step stands for the whole middle
        kept = [steps // 2]
    return kept, [centres[j] for j in kept]


def frame_embeddings(fn: FrameFn, audio: torch.Tensor, window: int,
                     batch_size: int = FRAME_BATCH) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_sounds, samples) -> embeddings (n_sounds, n_frames, dim) float32 and frame centres (n_frames,) in
    samples (float64), for the frames whose centres lie within the audio (at least one)."""
    n_sounds, n = audio.shape
    hop, quarter = window // 2, window // 4
    n_windows = max(1, -(-n // hop))
    padded = F.pad(audio, (quarter, n_windows * hop + window - quarter - n))
    windows = padded.unfold(1, window, hop)[:, :n_windows]  # (n_sounds, n_windows, window): a view
    flat = torch.arange(n_sounds * n_windows, device=audio.device)
    outs, kept = [], None
    for rows in flat.split(batch_size):  # one batch of windows in memory at a time
        out = fn(windows[rows // n_windows, rows % n_windows]).float()  # (b, steps, dim)
        if kept is None:
            kept, offsets = kept_steps(out.shape[1], window)
        outs.append(out[:, kept])
    emb = torch.cat(outs).reshape(n_sounds, n_windows * len(kept), -1)
    starts = torch.arange(n_windows, dtype=torch.float64) * hop - quarter
    centres = (starts[:, None] + torch.tensor(offsets, dtype=torch.float64)[None, :]).reshape(-1)
    inside = max(1, int((centres < n).sum()))
    return emb[:, :inside], centres[:inside].to(audio.device)


def on_grid(emb: torch.Tensor, centres: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """(n_sounds, n_frames, dim) at increasing `centres` -> (n_sounds, len(grid), dim) at `grid` (same unit):
    linear between the two nearest frames, the first/last frame beyond either end."""
    if len(centres) == 1:
        return emb[:, :1].expand(-1, len(grid), -1).clone()
    right = torch.searchsorted(centres, grid).clamp(1, len(centres) - 1)
    left = right - 1
    weight = ((grid - centres[left]) / (centres[right] - centres[left])).clamp(0.0, 1.0).to(emb.dtype)
    return emb[:, left] * (1 - weight)[None, :, None] + emb[:, right] * weight[None, :, None]
