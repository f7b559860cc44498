"""The aisfx front-end in torch: peak-normalised waveform -> log-compressed, min-max scaled mel power.

It follows the aisfx package's librosa path (`aisfx/spectrogram/spectrogram_librosa.py`):
44.1 kHz, 2048-sample periodic Hann window and FFT, hop 1024, centred frames with zero padding,
96 HTK mel bands over 0-22050 Hz whose weights sum to 1 per band (librosa's norm=1), power 2,
log10(1e4 * mel + 1), then min-max scaling with the package's 'original' constants (0, 9.4578).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 1024
N_MELS = 96
FMIN, FMAX = 0.0, 22050.0
LOG_SCALE = 1e4
NORM_MIN, NORM_MAX = 0.0, 9.457798957824707


def hz_to_mel_htk(hz: np.ndarray) -> np.ndarray:
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz_htk(mel: np.ndarray) -> np.ndarray:
    """Inverse of `hz_to_mel_htk`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filters_unit_sum(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """HTK triangular filters on the FFT bin frequencies, each row scaled to sum to 1: (mels, n_fft//2+1)."""
    edges = mel_to_hz_htk(np.linspace(hz_to_mel_htk(fmin), hz_to_mel_htk(fmax), n_mels + 2))
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)  # (bins,)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (mels, 1)
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    tri = np.maximum(0.0, np.minimum(rising, falling))  # (mels, bins)
    sums = tri.sum(axis=1, keepdims=True)
    return (tri / np.where(sums > 0, sums, 1.0)).astype(np.float32)


class AisfxFrontEnd(nn.Module):
    """(batch, samples) at 44.1 kHz -> (batch, frames, 96) scaled log-mel, frames = 1 + samples // 1024."""

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        filters = mel_filters_unit_sum(SAMPLE_RATE, N_FFT, N_MELS, FMIN, FMAX)
        self.register_buffer("filters", torch.from_numpy(filters), persistent=False)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Scaled log-mel of each peak-normalised row: (batch, samples) -> (batch, frames, mels)."""
        # the spectrum needs float32 even when the network runs under bf16 autocast
        with torch.autocast(waveforms.device.type, enabled=False):
            x = waveforms.float()
            peak = x.abs().amax(dim=1, keepdim=True)
            x = x / torch.where(peak > 0, peak, torch.ones_like(peak))
            spec = torch.stft(x, N_FFT, HOP, N_FFT, self.window, center=True, pad_mode="constant",
                              return_complex=True)  # (batch, bins, frames)
            power = spec.real.square() + spec.imag.square()
            mel = torch.einsum("bft,mf->btm", power, self.filters)  # (batch, frames, mels)
            return (torch.log10(mel * LOG_SCALE + 1.0) - NORM_MIN) / (NORM_MAX - NORM_MIN)

    @staticmethod
    def settings() -> dict:
        """The constants that decide its output (part of the teacher fingerprint)."""
        return {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop": HOP, "n_mels": N_MELS, "fmin": FMIN,
                "fmax": FMAX, "mel": "htk", "mel_norm": "unit_sum", "power": 2, "log_scale": LOG_SCALE,
                "norm": [NORM_MIN, NORM_MAX], "peak_normalise": True}
