"""Signal-shaping helpers of the procedural sound events: filters, envelopes, slow random curves, placement."""
from __future__ import annotations

import functools

import numpy as np
from scipy.signal import butter, lfilter, sosfilt


def loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A draw spread evenly in log scale between lo and hi (frequencies, rates)."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


@functools.lru_cache(maxsize=512)
def _sos(kind: str, lo: float, hi: float, rate: int, order: int) -> np.ndarray:
    nyquist = rate / 2.0
    if kind == "bandpass":
        return butter(order, [lo / nyquist, hi / nyquist], btype="bandpass", output="sos")
    return butter(order, (lo if kind == "highpass" else hi) / nyquist, btype=kind, output="sos")


def bandpass(x: np.ndarray, lo: float, hi: float, rate: int, order: int = 2) -> np.ndarray:
    """Butterworth band-pass of x between lo and hi Hz (edges kept inside (0, Nyquist))."""
    lo, hi = _edges(lo, hi, rate)
    return sosfilt(_sos("bandpass", lo, hi, rate, order), x)


def lowpass(x: np.ndarray, cutoff: float, rate: int, order: int = 2) -> np.ndarray:
    """Butterworth low-pass of x at `cutoff` Hz."""
    return sosfilt(_sos("lowpass", 0.0, _edges(1.0, cutoff, rate)[1], rate, order), x)


def highpass(x: np.ndarray, cutoff: float, rate: int, order: int = 2) -> np.ndarray:
    """Butterworth high-pass of x at `cutoff` Hz."""
    return sosfilt(_sos("highpass", _edges(cutoff, rate / 2.0, rate)[0], 0.0, rate, order), x)


def _edges(lo: float, hi: float, rate: int) -> tuple[float, float]:
    """Band edges rounded (so filter designs are cached) and clamped to (10 Hz, 0.45 rate)."""
    top = 0.45 * rate
    lo = float(np.clip(round(lo, 1), 10.0, top * 0.9))
    return lo, float(np.clip(round(hi, 1), lo * 1.05, top))


def resonator(x: np.ndarray, freq: float, bandwidth: float, rate: int) -> np.ndarray:
    """Two-pole resonance at `freq` Hz with `bandwidth` Hz, unit gain at its peak (a formant, a ringing body)."""
    radius = np.exp(-np.pi * bandwidth / rate)
    theta = 2.0 * np.pi * min(freq, 0.45 * rate) / rate
    gain = (1.0 - radius) * np.sqrt(1.0 - 2.0 * radius * np.cos(2.0 * theta) + radius ** 2)
    return lfilter([gain], [1.0, -2.0 * radius * np.cos(theta), radius ** 2], x)


def slow_curve(rng: np.random.Generator, n: int, rate: int, hz: float) -> np.ndarray:
    """A smooth random curve in [-1, 1] changing about `hz` times per second, (n,)."""
    knots = max(int(np.ceil(n / rate * hz)) + 2, 3)
    values = rng.uniform(-1.0, 1.0, knots)
    at = np.linspace(0.0, knots - 1.0, n)
    # cosine interpolation between random knots: smooth, never overshoots [-1, 1]
    i = np.minimum(at.astype(int), knots - 2)
    w = (1.0 - np.cos(np.pi * (at - i))) / 2.0
    return values[i] * (1.0 - w) + values[i + 1] * w


def phase(freq: np.ndarray | float, n: int, rate: int, start: float = 0.0) -> np.ndarray:
    """Phase (radians) of an oscillator following `freq` Hz (a scalar or one value per sample), (n,)."""
    f = np.broadcast_to(np.asarray(freq, dtype=np.float64), (n,))
    return start + 2.0 * np.pi * np.cumsum(f) / rate


def harmonics(ph: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """Sum of sin(k * phase) * amplitudes[k-1]: a harmonic tone on the phase track `ph`."""
    return sum(a * np.sin(k * ph) for k, a in enumerate(amplitudes, start=1))


def gate(on: np.ndarray, rate: int, ramp: float = 0.004) -> np.ndarray:
    """A 0/1 on-off pattern with `ramp`-second fades at the edges (no clicks)."""
    width = max(int(ramp * rate), 1)
    return np.convolve(on.astype(np.float64), np.hanning(2 * width + 1) / (width + 1), mode="same")


def decay(n: int, seconds: float, rate: int) -> np.ndarray:
    """Exponential decay exp(-t / seconds), (n,)."""
    return np.exp(-np.arange(n) / (seconds * rate))


def add_at(out: np.ndarray, x: np.ndarray, start: int) -> None:
    """Add `x` into `out` from sample `start`, cutting what falls off the end."""
    if 0 <= start < len(out):
        stop = min(len(out), start + len(x))
        out[start:stop] += x[:stop - start]


def hann_burst(n: int) -> np.ndarray:
    """A Hann-window envelope of n samples (a syllable, a noise burst)."""
    return np.hanning(max(n, 3))[:n] if n > 0 else np.zeros(0)
