"""Fixed-length windows over variable-length clips."""
from __future__ import annotations

from typing import Literal

import numpy as np

LastWindow = Literal["pad", "drop"]


def window_starts(length: int, window: int, hop: int, last: LastWindow = "pad") -> np.ndarray:
    """Start samples of the windows covering a clip of `length` samples.

    A clip shorter than one window always yields one (padded) window, so no clip is lost.
    With `last="pad"` a trailing partial window is kept and zero-padded; with "drop" it is dropped.
    """
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive, got window={window}, hop={hop}")
    if last not in ("pad", "drop"):
        raise ValueError(f"last must be 'pad' or 'drop', got {last!r}")
    if length <= window:
        return np.zeros(1, dtype=np.int64)
    full = (length - window) // hop + 1
    starts = np.arange(full, dtype=np.int64) * hop
    tail = starts[-1] + hop
    # with hop > window the next start can lie past the end: that window would hold only padding
    if last == "pad" and starts[-1] + window < length and tail < length:
        starts = np.append(starts, tail)
    return starts


def slice_windows(waveform: np.ndarray, window: int, hop: int, last: LastWindow = "pad") -> np.ndarray:
    """Cut a 1-D clip into (n_windows, window) zero-padded frames."""
    starts = window_starts(len(waveform), window, hop, last)
    out = np.zeros((len(starts), window), dtype=np.float32)
    for i, s in enumerate(starts):
        piece = waveform[s: s + window]
        out[i, : len(piece)] = piece
    return out


def window_lengths(length: int, starts: np.ndarray, window: int) -> np.ndarray:
    """Number of real (unpadded) samples in each window."""
    return np.clip(length - starts, 0, window).astype(np.int64)
