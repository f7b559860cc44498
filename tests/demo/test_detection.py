"""Detection scenes: annotations where each sound sounds (not where it was placed), matching the rendered mix."""
import numpy as np
import pytest

from pipeline.demo.detection import DETECTION_CLASSES, MERGE_GAP_SECONDS, SOUNDS, detection_scene, sounding_spans
from pipeline.demo.scenes import frame_power

RATE = 32000
VARIANTS = ("m3", "f2")


def tone(seconds: float) -> np.ndarray:
    return np.sin(np.arange(int(seconds * RATE)) * 2 * np.pi * 440 / RATE)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE))


def test_spans_skip_silence_around_a_sound_and_join_short_pauses():
    short_pause = MERGE_GAP_SECONDS / 2
    audio = np.concatenate([silence(1.0), tone(0.5), silence(short_pause), tone(0.3), silence(1.0), tone(0.2),
                            silence(0.5)])
    first_end = 1.0 + 0.5 + short_pause + 0.3
    spans = sounding_spans(audio, RATE)
    assert len(spans) == 2
    assert spans[0] == pytest.approx((1.0, first_end), abs=0.051)  # 50 ms frames
    assert spans[1] == pytest.approx((first_end + 1.0, first_end + 1.2), abs=0.051)
    assert sounding_spans(silence(1.0), RATE) == []


def test_a_sound_30_db_down_its_own_peak_is_not_sounding():
    audio = np.concatenate([tone(1.0), 10 ** (-40 / 20) * tone(1.0)])  # a tail 40 dB down
    assert sounding_spans(audio, RATE) == [pytest.approx((0.0, 1.0))]


@pytest.fixture(scope="module")
def scenes():
    return [detection_scene(np.random.default_rng([0, 18, i]), 6.0, RATE, VARIANTS) for i in range(6)]


def test_annotations_match_the_rendered_audio(scenes):
    """Energy sits inside the annotated spans: outside them only the quiet noise floor and faint tails remain."""
    for clip in scenes:
        power = frame_power(clip.audio, RATE)  # 50 ms frames
        times = (np.arange(len(power)) + 0.5) * 0.05
        spans = [(times > onset) & (times < offset) for onset, offset, _ in clip.labels["events"]]
        inside = np.any(spans, axis=0)
        assert 0.05 < inside.mean() < 1.0
        outside = power[~inside].mean()
        assert outside < power[inside].mean() / 100  # 20 dB quieter outside the annotations
        assert power[~inside].max() < np.median(power[inside])
        for (onset, offset, label), during in zip(clip.labels["events"], spans):
            assert 0.0 <= onset < offset <= 6.0 and label in DETECTION_CLASSES
            assert power[during].max() > 10 * outside  # every event stands 10 dB above the floor somewhere


def test_scenes_hold_every_class_and_overlaps(scenes):
    classes = {e[2] for clip in scenes for e in clip.labels["events"]}
    assert classes == set(DETECTION_CLASSES) == set(SOUNDS)
    overlapping = 0
    for clip in scenes:
        events = clip.labels["events"]
        assert events == sorted(events)
        overlapping += any(a[1] > b[0] and a[2] != b[2] for a, b in zip(events, events[1:]))
    assert overlapping >= 2  # polyphony: sounds of different classes at once


def test_same_seed_same_scene(scenes):
    again = detection_scene(np.random.default_rng([0, 18, 0]), 6.0, RATE, VARIANTS)
    assert np.array_equal(again.audio, scenes[0].audio) and again.labels == scenes[0].labels
    assert len(scenes[0].audio) == 6 * RATE
