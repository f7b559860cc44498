"""Polyphonic scenes: 2-3 distinct parts, every part audible in the mix, tags naming each part."""
import numpy as np

from pipeline.demo.clips import SILENT_RMS
from pipeline.demo.scenes import PARTS, Speakers, loudness, placed, scene_clip
from pipeline.demo.voices import voices

RATE = 32000
SPEAKERS = Speakers(voices(("m3", "f2")), ("m3", "f2"))


def test_scenes_mix_two_or_three_parts_and_tag_each():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(25):
        clip = scene_clip(rng, (2.0, 4.0), RATE, SPEAKERS)
        parts = clip.labels["parts"].split("+")
        assert 2 <= len(parts) <= 3 and len(set(parts)) == len(parts) and set(parts) <= set(PARTS)
        assert clip.labels["scene_tags"].count(":") >= len(parts)
        assert 2.0 <= len(clip.audio) / RATE <= 4.0 and np.all(np.isfinite(clip.audio))
        assert np.sqrt(np.mean(clip.audio.astype(np.float64) ** 2)) > SILENT_RMS
        assert 10 ** (-20.5 / 20) <= np.abs(clip.audio).max() <= 10 ** (-2.5 / 20)
        seen |= set(parts)
    assert seen == set(PARTS)


def testplaced_keeps_the_whole_part_or_a_full_crop():
    rng = np.random.default_rng(1)
    short = np.arange(1, 101, dtype=np.float32)
    out = placed(rng, short, 300)
    assert out.shape == (300,) and np.count_nonzero(out) == 100 and out.sum() == short.sum()
    crop = placed(rng, np.arange(1, 1001, dtype=np.float32), 300)
    assert np.all(np.diff(crop) == 1)  # one contiguous window


def testloudness_ignores_silence_around_a_sound():
    tone = np.sin(np.arange(RATE) * 2 * np.pi * 440 / RATE).astype(np.float32)
    padded = np.concatenate([np.zeros(RATE // 2, np.float32), tone[:RATE // 4], np.zeros(RATE // 4, np.float32)])
    assert abs(loudness(tone, RATE) - np.sqrt(0.5)) < 0.01
    assert abs(loudness(padded, RATE) - loudness(tone, RATE)) < 0.05


def test_same_seed_same_scene_without_speech():
    speakers = Speakers((), ())  # no voices: a scene that draws speech would fail, so draw until none does
    for seed in range(20):
        try:
            a = scene_clip(np.random.default_rng(seed), (2.0, 3.0), RATE, speakers)
        except ValueError:
            continue
        b = scene_clip(np.random.default_rng(seed), (2.0, 3.0), RATE, speakers)
        assert np.array_equal(a.audio, b.audio) and a.labels == b.labels
        return
    raise AssertionError("every seed drew speech")
