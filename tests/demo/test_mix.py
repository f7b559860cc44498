"""Mixing at an exact SNR, and the noisy-speech backgrounds."""
import numpy as np
import pytest

from pipeline.demo.backgrounds import BACKGROUNDS, background, colored_noise
from pipeline.demo.clips import speech_clip, with_background
from pipeline.demo.mix import mix_at_snr, mix_over_span, noise_gain, snr_db
from pipeline.demo.voices import voices


@pytest.mark.parametrize("target", [-10.0, 0.0, 7.5, 30.0])
def test_mix_hits_requested_snr(target):
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    signal = (0.3 * np.sin(2 * np.pi * 220 * t) * np.hanning(len(t))).astype(np.float32)
    noise = (5.0 * rng.standard_normal(len(t))).astype(np.float32)
    mixed = mix_at_snr(signal, noise, target)
    assert mixed.dtype == np.float32 and mixed.shape == signal.shape
    residual = mixed.astype(np.float64) - signal
    measured = 10 * np.log10(np.mean(signal.astype(np.float64) ** 2) / np.mean(residual ** 2))
    assert abs(measured - target) < 0.1


def test_mix_rejects_silence_and_shape_mismatch():
    with pytest.raises(ValueError):
        noise_gain(np.zeros(10), np.ones(10), 0.0)
    with pytest.raises(ValueError):
        mix_at_snr(np.ones(10), np.ones(11), 0.0)


def test_colored_noise_slopes():
    rng = np.random.default_rng(0)
    n, rate = 1 << 16, 32000
    for exponent, slope_db_per_octave in ((0.0, 0.0), (1.0, -3.0), (2.0, -6.0)):
        x = colored_noise(n, exponent, rng)
        assert np.sqrt(np.mean(x.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-3)
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(n, 1 / rate)
        band = lambda f: power[(freqs >= f) & (freqs < 2 * f)].mean()  # noqa: E731
        measured = 10 * np.log10(band(2000) / band(1000))
        assert abs(measured - slope_db_per_octave) < 1.0


def test_backgrounds_render_and_unknown_fails():
    rng = np.random.default_rng(0)
    for kind in BACKGROUNDS:
        x = background(kind, 32000, rng, 32000)
        assert x.shape == (32000,) and np.sqrt(np.mean(x ** 2)) > 1e-3
    with pytest.raises(ValueError, match="valid"):
        background("rain", 10, rng, 32000)


def test_mix_over_span_sets_snr_where_the_word_is():
    rng = np.random.default_rng(3)
    clean = speech_clip(rng, voices(("m3",)), (2.0, 3.0), 32000, word="go")
    noise = background("music", len(clean.audio), rng, 32000)
    mixed = mix_over_span(clean.audio, noise, clean.span, 0.0)
    lo, hi = clean.span
    assert abs(snr_db(clean.audio[lo:hi], mixed[lo:hi] - clean.audio[lo:hi]) - 0.0) < 0.1
    assert np.any(mixed[:lo] if lo else mixed[hi:])  # the background covers the whole clip


def test_noisy_clip_labels_and_level():
    rng = np.random.default_rng(4)
    clean = speech_clip(rng, voices(("f2",)), (2.0, 3.0), 32000, word="up")
    noisy = with_background(clean, rng, (5.0, 5.0), 32000)
    assert noisy.labels["snr_db"] == 5.0 and noisy.labels["background"] in BACKGROUNDS
    assert noisy.labels["word"] == "up" and noisy.span == clean.span
    assert 10 ** (-20.5 / 20) <= np.abs(noisy.audio).max() <= 10 ** (-2.5 / 20)
