"""Log-mel front-end: waveforms -> log mel power spectrograms, in torch so it exports with the student.

Mel scale: HTK (mel = 2595 * log10(1 + f / 700)). Filters are triangles with peak 1, whose corner
frequencies are equally spaced on the mel scale between `fmin` and `fmax`; each triangle is evaluated
at the FFT bin centre frequencies in Hz (no area normalisation). STFT: periodic Hann window,
`center=True` with zero padding (so clips shorter than half a window still work), power spectrum.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pipeline.config import check


@dataclass(frozen=True)
class LogMelConfig:
    """Front-end settings; the defaults are the paper's (32 kHz, 32 ms window, 16 ms hop, 128 mels)."""

    sample_rate: int = 32000
    n_mels: int = 128
    win_ms: float = 32.0
    hop_ms: float = 16.0
    fmin: float = 50.0
    fmax: float = 16000.0
    log_offset: float = 1e-5
    # output = (log(mel + log_offset) - mean) / std
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self):
        check(self.sample_rate > 0, "sample_rate", "must be positive")
        check(self.n_mels > 0, "n_mels", "must be positive")
        check(self.win_length >= 2, "win_ms", "window must span at least 2 samples")
        check(self.hop_length >= 1, "hop_ms", "hop must span at least 1 sample")
        check(0 <= self.fmin < self.fmax <= self.sample_rate / 2, "fmax",
              f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={self.fmax}")
        check(self.log_offset > 0, "log_offset", "must be positive")
        check(self.std > 0, "std", "must be positive")

    @property
    def win_length(self) -> int:
        """Window (and FFT) length in samples."""
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        """Hop between frames in samples."""
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def n_fft(self) -> int:
        """FFT size: the window length (no zero padding of frames)."""
        return self.win_length

    def frames_for(self, n_samples: int) -> int:
        """Number of frames LogMel yields for `n_samples` samples (centred frames)."""
        return 1 + n_samples // self.hop_length


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of `hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(cfg: LogMelConfig) -> np.ndarray:
    """Triangular filters (n_mels, n_fft // 2 + 1), float64."""
    edges = mel_to_hz(np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax), cfg.n_mels + 2))
    bins = np.linspace(0.0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)  # (freqs,)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (mels, 1)
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def pair_power(spec: torch.Tensor) -> torch.Tensor:
    """(..., 2) real/imaginary pairs -> (...) power, re^2 + im^2. The same floats as `spec.pow(2).sum(-1)`, but
    two strided element-wise products instead of a reduction over a trailing axis of 2, which is several times
    slower on CPU (it was the front-end's largest cost)."""
    return spec[..., 0].square() + spec[..., 1].square()


class LogMel(nn.Module):
    """(batch, samples) float waveforms -> (batch, n_mels, frames) log-mel spectrograms."""

    def __init__(self, cfg: LogMelConfig = LogMelConfig()):
        super().__init__()
        self.cfg = cfg
        self.n_fft = cfg.n_fft
        self.hop_length = cfg.hop_length
        self.log_offset = cfg.log_offset
        self.mean = cfg.mean
        self.std = cfg.std
        self.register_buffer("window", torch.hann_window(cfg.win_length, periodic=True), persistent=False)
        fbank = torch.from_numpy(mel_filterbank(cfg)).float()
        self.register_buffer("fbank", fbank, persistent=False)

    def frames_for(self, n_samples: int) -> int:
        """Number of output frames for `n_samples` input samples."""
        return self.cfg.frames_for(n_samples)

    def power(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, freqs, frames) power spectrum of (batch, samples) waveforms."""
        if not torch.jit.is_scripting():  # TorchScript cannot compile the exporter check (nor needs it)
            if torch.onnx.is_in_onnx_export():  # the ONNX exporter has no complex type: real/imag pairs there only
                spec = torch.stft(waveforms, self.n_fft, hop_length=self.hop_length, window=self.window, center=True,
                                  pad_mode="constant", return_complex=False)
                return pair_power(spec)
        spec = torch.view_as_real(torch.stft(waveforms, self.n_fft, hop_length=self.hop_length, window=self.window,
                                             center=True, pad_mode="constant", return_complex=True))
        return pair_power(spec)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Log-mel spectrogram of a batch of waveforms."""
        mel = torch.matmul(self.fbank, self.power(waveforms))  # (batch, mels, frames)
        return (torch.log(mel + self.log_offset) - self.mean) / self.std


def band_statistics(mel: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(batch, n_mels, frames) -> (batch, 2 * n_mels): each band's mean, then its std (population), over the frames
    where `mask` (batch, 1, frames) is 1, or over every frame without a mask."""
    if mask is None:
        return torch.cat([mel.mean(dim=-1), mel.std(dim=-1, unbiased=False)], dim=1)
    n = mask.sum(dim=-1)  # (batch, 1)
    mean = (mel * mask).sum(dim=-1) / n
    std = (((mel - mean[..., None]) ** 2 * mask).sum(dim=-1) / n).sqrt()
    return torch.cat([mean, std], dim=1)
