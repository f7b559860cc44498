"""GM drum kits: every kit piece sounds in every kit, clips are audible and labelled, styles fix the kit sound."""
import numpy as np
import pytest

from pipeline.demo.clips import SILENT_RMS
from pipeline.demo.instruments import Note, render_notes
from pipeline.demo.percussion import DRUM_KITS, KIT_PIECES, PATTERNS, percussion_clip

RATE = 32000


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


@pytest.mark.parametrize("kit", sorted(DRUM_KITS))
def test_every_kit_piece_sounds_in_every_kit(kit):
    for piece, keys in KIT_PIECES.items():
        for key in keys:
            hit = render_notes(DRUM_KITS[kit], [Note(key, 100, 0.0, 0.5)], 0.5, RATE, drums=True)
            assert rms(hit) > SILENT_RMS, (kit, piece, key)


def test_kit_sounds_differ():
    kick = [Note(36, 100, 0.0, 0.5)]
    standard, tr808 = (render_notes(DRUM_KITS[k], kick, 0.5, RATE, drums=True) for k in ("standard", "tr808"))
    assert not np.allclose(standard, tr808, atol=1e-3)


def test_clips_are_audible_finite_labelled_and_in_range():
    rng = np.random.default_rng(0)
    patterns = set()
    for _ in range(30):
        clip = percussion_clip(rng, (2.0, 4.0), RATE)
        assert clip.audio.dtype == np.float32 and np.all(np.isfinite(clip.audio))
        assert 2.0 <= len(clip.audio) / RATE <= 4.0 and rms(clip.audio) > SILENT_RMS
        assert 10 ** (-20.5 / 20) <= np.abs(clip.audio).max() <= 10 ** (-2.5 / 20)
        pieces = clip.labels["kit_piece"].split("+")
        assert clip.labels["kit"] in DRUM_KITS and set(pieces) <= set(KIT_PIECES)
        assert (len(pieces) >= 2) == (clip.labels["pattern"] == "groove")
        patterns.add(clip.labels["pattern"])
    assert patterns == set(PATTERNS)


def test_requested_piece_and_style_fix_the_kit_sound():
    clips = [percussion_clip(np.random.default_rng(i), (2.0, 3.0), RATE, piece="snare",
                             style=np.random.default_rng(42)) for i in range(4)]
    assert {c.labels["kit_piece"] for c in clips} == {"snare"}
    assert len({(c.labels["kit"], c.labels["tuning"]) for c in clips}) == 1
    assert {c.labels["pattern"] for c in clips} <= {"single", "roll"}


def test_same_seed_same_audio():
    a, b = (percussion_clip(np.random.default_rng(7), (2.0, 4.0), RATE) for _ in range(2))
    assert np.array_equal(a.audio, b.audio) and a.labels == b.labels
