"""Helpers writing small real audio files for the evaluation tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
FREQS = {"low": 300.0, "mid": 1200.0, "high": 4000.0}


def write_tone(path: Path, freq: float, seconds: float = 0.5, seed: int = 0) -> Path:
    """A noisy sine tone as a 16 kHz wav file."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    wave = 0.4 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave.astype(np.float32), RATE)
    return path
