"""Mixing a signal with a background at an exact signal-to-noise ratio."""
from __future__ import annotations

import numpy as np


def power(x: np.ndarray) -> float:
    """Mean square of `x` (float64 accumulation)."""
    return float(np.mean(np.square(x, dtype=np.float64)))


def snr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    """10 log10 of the signal-to-noise power ratio."""
    return 10.0 * np.log10(power(signal) / power(noise))


def noise_gain(signal: np.ndarray, noise: np.ndarray, target_db: float) -> float:
    """The factor that puts `noise` exactly `target_db` below `signal` (both measured over their full length)."""
    ps, pn = power(signal), power(noise)
    if ps <= 0 or pn <= 0:
        raise ValueError("signal and noise must both have non-zero power")
    return float(np.sqrt(ps / (pn * 10.0 ** (target_db / 10.0))))


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, target_db: float) -> np.ndarray:
    """`signal` plus `noise` scaled to `target_db` SNR; same length, float32."""
    if signal.shape != noise.shape:
        raise ValueError(f"signal {signal.shape} and noise {noise.shape} must have the same shape")
    gain = noise_gain(signal, noise, target_db)
    return (signal.astype(np.float64) + gain * noise.astype(np.float64)).astype(np.float32)


def mix_over_span(signal: np.ndarray, noise: np.ndarray, span: tuple[int, int], target_db: float) -> np.ndarray:
    """`signal` plus `noise` over the whole length, the SNR being `target_db` within `span` (where the word is)."""
    lo, hi = span
    gain = noise_gain(signal[lo:hi], noise[lo:hi], target_db)
    return (signal.astype(np.float64) + gain * noise.astype(np.float64)).astype(np.float32)
