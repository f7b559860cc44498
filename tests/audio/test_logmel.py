"""LogMel against an independent numpy/scipy reference, plus shape, tone and export checks."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.signal import get_window

from pipeline.audio.logmel import LogMel, LogMelConfig, pair_power
from pipeline.config import ConfigError, parse

SR = 32000


def realish_audio(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """Harmonic tone with vibrato, a chirp and decaying noise bursts: energy in every mel band."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 220.0 * (1.0 + 0.01 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    tone = sum(0.3 / k * np.sin(k * phase) for k in range(1, 12))
    chirp = 0.1 * np.sin(2 * np.pi * (300 * t + 6000 * t ** 2))
    bursts = 0.2 * rng.standard_normal(t.size) * np.exp(-8 * (t % 0.25))
    return (tone + chirp + bursts + 1e-3 * rng.standard_normal(t.size)).astype(np.float32)


def reference_mel_power(audio: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    """(n_mels, frames) mel power, float64, written without the library's helpers."""
    n_fft, hop = cfg.win_length, cfg.hop_length
    padded = np.concatenate([np.zeros(n_fft // 2), audio.astype(np.float64), np.zeros(n_fft // 2)])
    n_frames = 1 + (len(padded) - n_fft) // hop
    window = get_window("hann", n_fft, fftbins=True)
    frames = np.stack([padded[i * hop: i * hop + n_fft] * window for i in range(n_frames)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (frames, freqs)
    freqs = np.arange(n_fft // 2 + 1) * SR / n_fft
    to_mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # HTK scale, natural-log form
    to_hz = lambda m: 700.0 * np.expm1(m / 1127.0)
    step = (to_mel(cfg.fmax) - to_mel(cfg.fmin)) / (cfg.n_mels + 1)
    fbank = np.zeros((cfg.n_mels, freqs.size))
    for band in range(cfg.n_mels):
        lo, mid, hi = (to_hz(to_mel(cfg.fmin) + (band + k) * step) for k in range(3))
        for b, f in enumerate(freqs):
            if lo < f <= mid:
                fbank[band, b] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                fbank[band, b] = (hi - f) / (hi - mid)
    return fbank @ power.T


def test_matches_numpy_reference_on_realish_audio():
    cfg = LogMelConfig()
    audio = realish_audio()
    ours = LogMel(cfg)(torch.from_numpy(audio)[None]).double().numpy()[0]
    ref_power = reference_mel_power(audio, cfg)
    assert ours.shape == ref_power.shape == (128, cfg.frames_for(audio.size))
    np.testing.assert_allclose(np.exp(ours) - cfg.log_offset, ref_power, rtol=1e-4, atol=1e-4 * cfg.log_offset)
    np.testing.assert_allclose(ours, np.log(ref_power + cfg.log_offset), rtol=0, atol=1e-4)


def test_paper_settings_and_frame_count():
    cfg = LogMelConfig()
    assert (cfg.win_length, cfg.hop_length, cfg.n_fft) == (1024, 512, 1024)
    assert cfg.frames_for(10 * SR) == 626
    front = LogMel(cfg)
    for n in (100, 511, 512, 1024, 16000, 10 * SR):
        assert front(torch.zeros(2, n)).shape == (2, 128, front.frames_for(n))


def test_one_khz_tone_peaks_in_the_band_containing_one_khz():
    cfg = LogMelConfig()
    t = torch.arange(SR) / SR
    mel = LogMel(cfg)(torch.sin(2 * math.pi * 1000.0 * t)[None])[0]  # (mels, frames)
    peak = int(mel[:, 5:-5].mean(dim=1).argmax())
    to_mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)
    edges = np.linspace(to_mel(cfg.fmin), to_mel(cfg.fmax), cfg.n_mels + 2)
    assert edges[peak] < to_mel(1000.0) < edges[peak + 2]  # 1 kHz lies inside the peak band's triangle
    assert abs(edges[peak + 1] - to_mel(1000.0)) <= (edges[1] - edges[0]) / 2 + 1e-9


def test_normalisation_constants_apply():
    audio = torch.from_numpy(realish_audio(0.2))[None]
    plain = LogMel(LogMelConfig())(audio)
    normed = LogMel(LogMelConfig(mean=-4.5, std=5.0))(audio)
    torch.testing.assert_close(normed, (plain + 4.5) / 5.0)


def test_config_validation():
    with pytest.raises(ConfigError, match="fmax"):
        parse(LogMelConfig, {"fmax": 20000.0}, "logmel")
    assert parse(LogMelConfig, {"n_mels": 64, "hop_ms": 10}, "logmel").hop_length == 320


def test_torchscript_and_trace_match_eager():
    front = LogMel()
    audio = torch.from_numpy(realish_audio(0.3))[None].repeat(2, 1)
    expected = front(audio)
    torch.testing.assert_close(torch.jit.script(front)(audio), expected)
    traced = torch.jit.trace(front, audio)
    longer = torch.from_numpy(realish_audio(0.5, seed=1))[None]
    torch.testing.assert_close(traced(longer), front(longer))


def test_onnx_export_runs_in_onnxruntime(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    front = LogMel()
    path = tmp_path / "logmel.onnx"
    torch.onnx.export(front, (torch.zeros(1, 16000),), str(path), dynamo=False, opset_version=17,
                      input_names=["waveforms"], output_names=["logmels"],
                      dynamic_axes={"waveforms": {0: "batch", 1: "samples"}, "logmels": {0: "batch", 2: "frames"}})
    audio = torch.from_numpy(realish_audio(0.7))[None].repeat(3, 1)
    got = ort.InferenceSession(str(path)).run(None, {"waveforms": audio.numpy()})[0]
    np.testing.assert_allclose(got, front(audio).numpy(), atol=2e-4)


def test_band_statistics_over_masked_frames_skip_padding():
    from pipeline.audio.logmel import band_statistics

    mel = torch.randn(2, 3, 10)
    whole = band_statistics(mel)
    assert torch.allclose(band_statistics(mel, torch.ones(2, 1, 10)), whole, atol=1e-5)
    mask = torch.ones(2, 1, 10)
    mask[..., 6:] = 0.0
    assert torch.allclose(band_statistics(mel, mask), band_statistics(mel[..., :6]), atol=1e-5)


def test_pair_power_is_bit_identical_to_the_reduction_it_replaces():
    spec = torch.view_as_real(torch.stft(torch.randn(3, 4000), 256, hop_length=64,
                                         window=torch.hann_window(256), return_complex=True))
    assert torch.equal(pair_power(spec), spec.pow(2).sum(-1))
    assert torch.allclose(pair_power(spec), torch.view_as_complex(spec.contiguous()).abs().square(), rtol=1e-5)
