"""Any waveform -> fixed-length segments at the student's rate (what the student saw in training)."""
from __future__ import annotations

import numpy as np
import torch

from pipeline.audio.decode import resample


def as_mono(waveform: np.ndarray | torch.Tensor) -> np.ndarray:
    """(samples,) or (channels, samples), numpy or torch -> float32 (samples,) numpy; channels are averaged."""
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().cpu().float().numpy()
    wave = np.asarray(waveform, dtype=np.float32)
    if wave.ndim == 2:
        if wave.shape[0] > wave.shape[1]:
            # (frames, channels) as soundfile returns it would otherwise be read as thousands of channels
            raise ValueError(f"expected (channels, samples), got shape {wave.shape}; transpose it first")
        wave = wave.mean(axis=0)
    if wave.ndim != 1:
        raise ValueError(f"expected a waveform of shape (samples,) or (channels, samples), got {wave.shape}")
    if wave.size == 0:
        raise ValueError("empty waveform")
    return wave


def to_rate(waveform: np.ndarray | torch.Tensor, sample_rate: int, target_rate: int) -> np.ndarray:
    """Mono float32 at `target_rate` (soxr resampling when the rates differ)."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    return resample(as_mono(waveform), int(sample_rate), int(target_rate))


def split_segments(wave: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(samples,) -> (n_segments, window) back-to-back segments, the last zero-padded, and the real samples of each.

    A clip shorter than `window` gives one padded segment, as clips shorter than the window did in training.
    """
    n = max(1, -(-len(wave) // window))
    padded = np.zeros(n * window, dtype=np.float32)
    padded[: len(wave)] = wave
    real = np.clip(len(wave) - np.arange(n) * window, 0, window)  # (n_segments,)
    return padded.reshape(n, window), real
