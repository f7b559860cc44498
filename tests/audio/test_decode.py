"""Decoding real files: resampling accuracy, downmix, and every DecodeError reason."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from pipeline.audio.decode import DecodeError, decode, resample, to_mono


def _peak_hz(x: np.ndarray, rate: int) -> tuple[float, float]:
    """Frequency of the largest FFT bin (Hann window) and the bin width."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec)) * rate / len(x), rate / len(x)


@pytest.mark.parametrize("src,dst", [(44100, 32000), (8000, 32000), (96000, 32000), (48000, 16000)])
def test_tone_keeps_frequency_length_and_level(tmp_path, make_tone, src, dst):
    x = make_tone(1000.0, 1.3, src)
    path = tmp_path / "tone.wav"
    sf.write(path, x, src, subtype="FLOAT")
    y = decode(path, dst)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - len(x) * dst / src) <= 1
    peak, bin_hz = _peak_hz(y, dst)
    assert abs(peak - 1000.0) <= bin_hz
    # a 1 kHz tone is far from every Nyquist here, so its RMS (0.5/sqrt 2) must survive
    core = y[len(y) // 10: -len(y) // 10]
    assert np.sqrt(np.mean(core ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


@pytest.mark.parametrize("n", [3, 100, 4410, 44099, 44101, 123457])
def test_resample_length_within_one_sample(n):
    y = resample(np.zeros(n, dtype=np.float32), 44100, 32000)
    assert abs(len(y) - n * 32000 / 44100) <= 1


def test_resample_same_rate_is_identity():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float64)
    y = resample(x, 16000, 16000)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x.astype(np.float32))


def test_stereo_downmix_is_channel_mean(tmp_path, make_tone):
    left, right = make_tone(440.0, 0.5, 16000, 0.6), make_tone(3000.0, 0.5, 16000, 0.2)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(decode(tmp_path / "st.wav", 16000), (left + right) / 2, atol=1e-7)


def test_eight_channels_downmixed(tmp_path):
    frames = np.tile(np.arange(8, dtype=np.float32) / 10, (4000, 1))  # (frames, 8) constant channels
    sf.write(tmp_path / "ch8.wav", frames, 16000, subtype="FLOAT")
    y = decode(tmp_path / "ch8.wav", 16000)
    np.testing.assert_allclose(y, np.full(4000, 0.35, dtype=np.float32), atol=1e-6)


def test_to_mono_keeps_1d():
    x = np.arange(5, dtype=np.float32)
    assert to_mono(x) is x


def test_bytes_decode_equals_path_decode(tmp_path, make_tone):
    sf.write(tmp_path / "a.flac", make_tone(700.0, 0.4, 22050), 22050)
    np.testing.assert_array_equal(decode((tmp_path / "a.flac").read_bytes(), 32000), decode(tmp_path / "a.flac", 32000))


def _good_wav_bytes(tmp_path, make_tone) -> bytes:
    sf.write(tmp_path / "good.wav", make_tone(500.0, 0.5, 16000), 16000)
    return (tmp_path / "good.wav").read_bytes()


def _bad_file(kind: str, tmp_path, make_tone):
    """Write one kind of broken input for real and return its path."""
    path = tmp_path / f"{kind}.wav"
    good = _good_wav_bytes(tmp_path, make_tone)
    if kind == "zero_length":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not audio\n" * 50)
    elif kind == "corrupt_header":
        path.write_bytes(b"RIFX\x00\x13garbage-garbage-garbage-garbage" + good[44:])
    elif kind == "truncated_header":
        path.write_bytes(good[:30])
    elif kind == "truncated_flac":
        path = tmp_path / "t.flac"
        sf.write(path, np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.3, 16000)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "no_frames":
        sf.write(path, np.zeros((0, 1), dtype=np.float32), 16000)
    elif kind in ("nan", "inf"):
        x = make_tone(500.0, 0.2, 16000)
        x[123] = np.nan if kind == "nan" else -np.inf
        sf.write(path, x, 16000, subtype="FLOAT")
    elif kind == "one_frame_high_rate":
        sf.write(path, np.full(1, 0.1, dtype=np.float32), 96000)
    elif kind == "directory":
        path.mkdir()
    return path


@pytest.mark.parametrize("kind,reason", [
    ("zero_length", "unreadable"), ("text", "unreadable"), ("corrupt_header", "unreadable"),
    ("truncated_header", "unreadable"), ("truncated_flac", "unreadable"), ("no_frames", "empty"),
    ("nan", "non_finite"), ("inf", "non_finite"), ("one_frame_high_rate", "empty"), ("directory", "missing"),
])
def test_decode_error_reasons(tmp_path, make_tone, kind, reason):
    path = _bad_file(kind, tmp_path, make_tone)
    with pytest.raises(DecodeError) as info:
        decode(path, 8000)
    assert info.value.reason == reason
    assert str(info.value).startswith(reason)


def test_missing_file_reason(tmp_path):
    with pytest.raises(DecodeError) as info:
        decode(tmp_path / "nope.wav", 16000)
    assert info.value.reason == "missing" and "nope.wav" in info.value.detail


def test_garbage_bytes_unreadable():
    with pytest.raises(DecodeError) as info:
        decode(b"\x00\x01garbage" * 10, 16000)
    assert info.value.reason == "unreadable"


def test_truncated_wav_data_keeps_the_intact_prefix(tmp_path, make_tone):
    # libsndfile recovers the frames present when a WAV's data chunk is cut short: the clip is kept, shorter
    good = _good_wav_bytes(tmp_path, make_tone)
    (tmp_path / "cut.wav").write_bytes(good[: 44 + 2 * 3000])
    y = decode(tmp_path / "cut.wav", 16000)
    assert len(y) == 3000
    np.testing.assert_allclose(y, decode(good, 16000)[:3000], atol=1e-7)
