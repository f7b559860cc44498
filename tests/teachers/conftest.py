"""Fixtures for teacher tests: loaded built-in teachers (once per session) and test signals."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.teachers.registry import build_teacher


def signal_clip(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """A chirp plus noise with a silent gap, peak 0.5, float32: real structure for the teachers to see."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    freq = 200 + 1800 * (seed % 3 + 1) * t / max(seconds, 1e-9)
    wave = np.sin(2 * np.pi * np.cumsum(freq) / rate) + 0.3 * rng.standard_normal(n)
    wave[n // 3: n // 3 + n // 10] = 0.0
    return (0.5 * wave / np.abs(wave).max()).astype(np.float32)


@pytest.fixture(scope="session")
def make_signal():
    """The `signal_clip` function, for tests that need several clips."""
    return signal_clip


@pytest.fixture(scope="session")
def aisfx_teacher():
    """The default teacher, loaded from the aisfx wheel."""
    torch.set_num_threads(1)
    return build_teacher("aisfx", {})


@pytest.fixture(scope="session")
def crepe_full():
    """CREPE full with a coarse frame hop so short test inputs stay cheap."""
    torch.set_num_threads(1)
    return build_teacher("crepe", {"frame_hop_seconds": 0.1})
