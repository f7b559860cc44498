"""Procedural sound events: every kind is audible and clip-length, and each sounds like what it is named for."""
import numpy as np
import pytest

from pipeline.demo.clips import SILENT_RMS
from pipeline.demo.events import EVENTS, event_clip

RATE = 32000


def frame_rms(x: np.ndarray, seconds: float = 0.02) -> np.ndarray:
    """RMS of consecutive frames, (frames,)."""
    size = int(seconds * RATE)
    return np.sqrt(np.mean(x[:len(x) // size * size].astype(np.float64).reshape(-1, size) ** 2, axis=1))


def peak_track(x: np.ndarray, size: int = 2048) -> np.ndarray:
    """Frequency (Hz) of the strongest FFT bin of each frame, (frames,)."""
    frames = x[:len(x) // size * size].reshape(-1, size) * np.hanning(size)
    return np.argmax(np.abs(np.fft.rfft(frames, axis=1)), axis=1) * RATE / size


def band_share(x: np.ndarray, lo: float, hi: float) -> float:
    """Share of the clip's power between lo and hi Hz."""
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(power[(freqs >= lo) & (freqs < hi)].sum() / power.sum())


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_each_kind_is_audible_finite_clip_length_and_seeded(kind):
    rng = np.random.default_rng(3)
    for _ in range(4):
        clip = event_clip(rng, (2.0, 4.0), RATE, kind=kind)
        assert clip.audio.dtype == np.float32 and np.all(np.isfinite(clip.audio))
        assert 2.0 <= len(clip.audio) / RATE <= 4.0 and clip.labels == {"event": kind}
        assert np.sqrt(np.mean(clip.audio.astype(np.float64) ** 2)) > SILENT_RMS
        assert 10 ** (-20.5 / 20) <= np.abs(clip.audio).max() <= 10 ** (-2.5 / 20)
        assert abs(clip.audio.mean()) < 0.01
    again = [event_clip(np.random.default_rng(9), (2.0, 4.0), RATE, kind=kind).audio for _ in range(2)]
    assert np.array_equal(*again)


def test_free_draws_cover_every_kind():
    rng = np.random.default_rng(0)
    assert {event_clip(rng, (1.0, 1.0), RATE).labels["event"] for _ in range(150)} == set(EVENTS)


def test_alarms_switch_on_and_off():
    for seed in range(5):
        level = frame_rms(event_clip(np.random.default_rng(seed), (3.0, 3.0), RATE, kind="alarm").audio)
        assert level.min() < 0.01 * level.max() and np.mean(level > 0.3 * level.max()) > 0.1


def test_sirens_sweep_and_birds_sing_high():
    for seed in range(5):
        siren = event_clip(np.random.default_rng(seed), (3.0, 3.0), RATE, kind="siren").audio
        track = peak_track(siren)
        assert track.max() > 1.2 * track.min()  # the pitch moves by more than 20 %
        bird = event_clip(np.random.default_rng(seed), (3.0, 3.0), RATE, kind="bird").audio
        assert band_share(bird, 1200, 16000) > 0.9


def test_engines_and_wind_are_low_and_rain_is_broadband():
    for seed in range(5):
        engine = event_clip(np.random.default_rng(seed), (3.0, 3.0), RATE, kind="engine").audio
        assert band_share(engine, 0, 4000) > 0.9
        rain = event_clip(np.random.default_rng(seed), (3.0, 3.0), RATE, kind="rain").audio
        assert band_share(rain, 1000, 16000) > 0.2 and frame_rms(rain, 0.1).min() > 0.05 * frame_rms(rain, 0.1).max()


def test_a_style_fixes_the_source_and_clips_still_vary():
    def median_pitch(clip_seed: int, style_seed: int) -> float:
        clip = event_clip(np.random.default_rng(clip_seed), (3.0, 3.0), RATE, kind="siren",
                          style=np.random.default_rng(style_seed))
        return float(np.median(peak_track(clip.audio)))

    same = [median_pitch(i, 100) for i in range(4)]
    others = [median_pitch(0, 200 + i) for i in range(4)]
    assert max(same) < 1.3 * min(same) and max(others) > 1.3 * min(others)
    style = lambda: np.random.default_rng(1)  # noqa: E731
    a, b = (event_clip(np.random.default_rng(s), (2.0, 2.0), RATE, "rain", style()).audio for s in (1, 2))
    assert not np.array_equal(a, b)


def test_unknown_kind_fails():
    with pytest.raises(ValueError, match="valid"):
        event_clip(np.random.default_rng(0), (2.0, 2.0), RATE, kind="thunder")
