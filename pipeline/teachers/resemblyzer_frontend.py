"""The Resemblyzer front-end in torch: volume normalisation and the (linear, not log) mel power it feeds its LSTM.

It follows `resemblyzer/audio.py` (package 0.1.4) under librosa 0.11: 16 kHz, 400-sample (25 ms) periodic Hann
window and FFT, hop 160 (10 ms), centred frames with zero padding (librosa >= 0.10's default; older librosa
reflected the edges, which moves a 1 s clip's embedding by cosine ~1e-3), power 2, then
40 Slaney-scale mel bands over 0-8000 Hz with Slaney area normalisation (librosa's `melspectrogram` defaults).
Before that, `preprocess_wav` raises quiet clips to -30 dBFS RMS (never lowers loud ones); its webrtcvad
silence trimming is left out, so a window is embedded as given.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 40
FMIN, FMAX = 0.0, 8000.0
TARGET_DBFS = -30.0
# the Slaney mel scale: linear (200/3 Hz per mel) below 1 kHz, logarithmic above
SLANEY_HZ_PER_MEL = 200.0 / 3.0
SLANEY_BREAK_HZ = 1000.0
SLANEY_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    """Slaney (Auditory Toolbox) mel scale, as librosa's default `htk=False`."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / SLANEY_HZ_PER_MEL
    above = SLANEY_BREAK_HZ / SLANEY_HZ_PER_MEL + np.log(np.maximum(hz, SLANEY_BREAK_HZ) / SLANEY_BREAK_HZ) \
        / SLANEY_LOG_STEP
    return np.where(hz >= SLANEY_BREAK_HZ, above, linear)


def mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    """Inverse of `hz_to_mel_slaney`."""
    mel = np.asarray(mel, dtype=np.float64)
    break_mel = SLANEY_BREAK_HZ / SLANEY_HZ_PER_MEL
    above = SLANEY_BREAK_HZ * np.exp(SLANEY_LOG_STEP * (np.maximum(mel, break_mel) - break_mel))
    return np.where(mel >= break_mel, above, mel * SLANEY_HZ_PER_MEL)


def mel_filters_slaney(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-scale triangles on the FFT bin frequencies, each scaled to unit area: (mels, n_fft//2+1) float32."""
    edges = mel_to_hz_slaney(np.linspace(hz_to_mel_slaney(fmin), hz_to_mel_slaney(fmax), n_mels + 2))
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)  # (bins,)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (mels, 1)
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    tri = np.maximum(0.0, np.minimum(rising, falling))  # (mels, bins)
    # peak 1 over a base of (upper - lower) Hz: 2 / base gives every band the same area
    return (tri * 2.0 / (upper - lower)).astype(np.float32)


def normalise_volume(waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Raise each row whose RMS over its first `lengths[b]` samples is under -30 dBFS to exactly -30 dBFS.

    (batch, samples) -> (batch, samples) float32, zero past each row's length; silent rows stay silent.
    """
    x = waveforms.float()
    real = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).to(x.dtype)  # (batch, samples)
    x = x * real
    rms = (x.square().sum(dim=1) / lengths.to(x.dtype)).sqrt()  # (batch,)
    target = 10.0 ** (TARGET_DBFS / 20.0)
    gain = torch.where(rms > 0, target / rms.clamp(min=1e-30), torch.ones_like(rms)).clamp(min=1.0)
    return x * gain[:, None]


class ResemblyzerFrontEnd(nn.Module):
    """16 kHz (batch, samples) -> (batch, 1 + samples // 160, 40) mel power; float32, so call it outside autocast."""

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        filters = mel_filters_slaney(SAMPLE_RATE, N_FFT, N_MELS, FMIN, FMAX)
        self.register_buffer("filters", torch.from_numpy(filters), persistent=False)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Mel power of each row: (batch, samples) -> (batch, frames, mels)."""
        spec = torch.stft(waveforms.float(), N_FFT, HOP, N_FFT, self.window, center=True,
                          pad_mode="constant", return_complex=True)  # (batch, bins, frames)
        power = spec.real.square() + spec.imag.square()
        return torch.einsum("bft,mf->btm", power, self.filters)

    @staticmethod
    def settings() -> dict:
        """The constants that decide its output (part of the teacher fingerprint)."""
        return {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop": HOP, "n_mels": N_MELS, "fmin": FMIN,
                "fmax": FMAX, "mel": "slaney", "mel_norm": "slaney_area", "power": 2, "log": False,
                "pad": "constant", "target_dbfs": TARGET_DBFS, "increase_only": True}
