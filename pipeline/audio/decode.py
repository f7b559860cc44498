"""Decode any libsndfile-readable file to a mono float32 waveform at a target rate."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr


class DecodeError(Exception):
    """A file could not be turned into usable audio; `reason` is a short machine-readable tag."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average channels: (frames, channels) -> (frames,)."""
    if samples.ndim == 1:
        return samples
    if samples.shape[1] == 0:
        raise DecodeError("no_channels", "file has zero channels")
    return samples.mean(axis=1)


def resample(waveform: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """High-quality resampling with soxr; a no-op when the rates match."""
    if source_rate == target_rate:
        return waveform.astype(np.float32, copy=False)
    out = soxr.resample(waveform.astype(np.float32, copy=False), source_rate, target_rate, quality="HQ")
    return np.ascontiguousarray(out, dtype=np.float32)


def read_audio(source: str | Path | bytes) -> tuple[np.ndarray, int]:
    """Read a file (or its bytes) as float32 (frames, channels) plus its sample rate."""
    if isinstance(source, (str, os.PathLike)) and not os.path.isfile(source):
        raise DecodeError("missing", f"{source} is not a file")
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        data, rate = sf.read(handle, dtype="float32", always_2d=True)
    except (sf.SoundFileError, OSError, RuntimeError, TypeError, ValueError, EOFError) as exc:
        raise DecodeError("unreadable", str(exc).strip()) from exc
    if data.shape[0] == 0:
        raise DecodeError("empty", "no audio frames")
    return data, int(rate)


def decode(source: str | Path | bytes, sample_rate: int) -> np.ndarray:
    """Decode, downmix, check for NaN/Inf and resample; returns float32 (samples,), never empty."""
    data, rate = read_audio(source)
    mono = to_mono(data)
    if not np.isfinite(mono).all():
        raise DecodeError("non_finite", "NaN or Inf samples")
    out = resample(mono, rate, sample_rate)
    if out.size == 0:
        # a few frames at a high rate can round down to nothing at a lower one
        raise DecodeError("empty", f"{len(mono)} frame(s) at {rate} Hz leave no sample at {sample_rate} Hz")
    return out
