"""Backgrounds for noisy speech: coloured noise and rendered music."""
from __future__ import annotations

import numpy as np

from pipeline.demo.instruments import PITCHED_FAMILIES, Note, render_notes

# name -> spectral slope exponent (power ~ 1/f^exponent); "music" is rendered instead
BACKGROUNDS = {"white": 0.0, "pink": 1.0, "brown": 2.0, "music": None}


def colored_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power spectrum falls as 1/f^exponent, unit RMS, float32 (n,)."""
    size = 1 << max(n - 1, 1).bit_length()  # a power of two: FFTs of awkward (prime) lengths are 10x slower
    spectrum = np.fft.rfft(rng.standard_normal(size))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0  # keep DC finite; it is removed below
    spectrum /= freqs ** (exponent / 2.0)
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, size)[:n]
    return (x / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def music(n: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A few overlapping chords on one random pitched instrument, float32 (n,)."""
    program = int(rng.choice(PITCHED_FAMILIES)) * 8 + int(rng.integers(8))
    seconds = n / sample_rate
    notes, onset = [], 0.0
    while onset < seconds:
        root, held = int(rng.integers(48, 72)), float(rng.uniform(0.4, 1.2))
        for step in rng.choice([0, 3, 4, 7, 10, 12], size=3, replace=False):
            notes.append(Note(root + int(step), int(rng.integers(60, 110)), onset, held))
        onset += held
    return render_notes(program, notes, seconds, sample_rate)[:n]


def background(kind: str, n: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A background of `kind` (a key of BACKGROUNDS), float32 (n,)."""
    if kind not in BACKGROUNDS:
        raise ValueError(f"unknown background {kind!r}; valid: {sorted(BACKGROUNDS)}")
    exponent = BACKGROUNDS[kind]
    return music(n, rng, sample_rate) if exponent is None else colored_noise(n, exponent, rng)
