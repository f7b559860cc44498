"""Sound event detection scenes: timed sounds of four kinds over a noise floor, annotated where each one sounds.

A scene places 3-6 sounds (each kind drawn independently, so a kind may recur and overlap itself) at random
onsets and levels over a quiet noise floor. Every sound's annotation comes from the sound itself, not from where
it was placed: the 50 ms frames within 30 dB of its loudest (the rule `scenes.loudness` levels sounds by), so a
sound's leading and trailing silence, and the pauses of speech or between drum hits, are not annotated; sounding
stretches closer than MERGE_GAP_SECONDS stay one event, as a listener would mark them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from pipeline.demo.backgrounds import background
from pipeline.demo.clips import Clip, at_peak, audible, instrument_clip
from pipeline.demo.events import EVENTS, event_clip
from pipeline.demo.percussion import percussion_clip
from pipeline.demo.scenes import FRAME_SECONDS, LEVELS_DB, frame_power, loudness, placed, sounding
from pipeline.demo.sentences import sentence_clip

SOUNDS_PER_SCENE = (3, 6)  # sounds placed in one scene
SOUND_SECONDS = (1.0, 4.0)  # length range of each drawn sound (its sounding part may be shorter)
FLOOR_DB = (-45.0, -35.0)  # noise floor level relative to the loudest sounds' level
FLOOR_KINDS = ("white", "pink", "brown")  # noise only: a music floor would be an unannotated instrument
MERGE_GAP_SECONDS = 0.25  # sounding stretches of one sound closer than this are one event
# procedural events of the `events` class; crowd babble is left out, as it would be speech to a listener
EVENT_KINDS = tuple(sorted(k for k in EVENTS if k != "babble"))

Event = tuple[float, float, str]  # (onset s, offset s, class)

# class -> (rng, (shortest, longest) seconds, rate, voice variants) -> Clip; speech speaks pseudo-sentences only
SOUNDS: dict[str, Callable[[np.random.Generator, tuple[float, float], int, tuple[str, ...]], Clip]] = {
    "events": lambda rng, s, r, v: event_clip(rng, s, r, str(rng.choice(EVENT_KINDS))),
    "instrument": lambda rng, s, r, v: instrument_clip(rng, s, r),
    "percussion": lambda rng, s, r, v: percussion_clip(rng, s, r),
    "speech": lambda rng, s, r, v: sentence_clip(rng, v, s, r, phrase_share=0.0),
}
DETECTION_CLASSES = tuple(SOUNDS)


def detection_scene(rng: np.random.Generator, seconds: float, sample_rate: int,
                    variants: tuple[str, ...]) -> Clip:
    """A scene of `seconds` with its annotations: labels["events"] lists (onset, offset, class), by onset."""
    n = int(round(seconds * sample_rate))
    floor_gain = 10.0 ** (float(rng.uniform(*FLOOR_DB)) / 20.0)
    mix = floor_gain * background(str(rng.choice(FLOOR_KINDS)), n, rng, sample_rate).astype(np.float64)
    events: list[Event] = []
    lengths = (min(SOUND_SECONDS[0], seconds), min(SOUND_SECONDS[1], seconds))
    for _ in range(int(rng.integers(SOUNDS_PER_SCENE[0], SOUNDS_PER_SCENE[1] + 1))):
        kind = str(rng.choice(DETECTION_CLASSES))
        sound = SOUNDS[kind](rng, lengths, sample_rate, variants).audio
        gain = 10.0 ** (float(rng.uniform(*LEVELS_DB)) / 20.0) / loudness(sound, sample_rate)
        track = gain * placed(rng, sound, n)  # (n,): the sound alone, where it sits in the scene
        mix += track
        events += [(onset, offset, kind) for onset, offset in sounding_spans(track, sample_rate)]
    if not audible(mix):
        raise RuntimeError("silent detection scene")
    return Clip(at_peak(mix, rng), {"events": sorted(events)}, (0, n))


def sounding_spans(audio: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """(onset, offset) in seconds of the stretches where `audio` sounds: runs of `sounding` 50 ms frames, runs
    less than MERGE_GAP_SECONDS apart joined; none for digital silence."""
    power = frame_power(audio, rate)
    if not power.any():
        return []
    edges = np.flatnonzero(np.diff(np.r_[0, sounding(power).astype(np.int8), 0]))
    starts, ends = edges[0::2], edges[1::2]  # frame index of each run's first frame, one past its last
    size = max(int(FRAME_SECONDS * rate), 1)
    apart = (starts[1:] - ends[:-1]) * size / rate >= MERGE_GAP_SECONDS
    starts, ends = starts[np.r_[True, apart]], ends[np.r_[apart, True]]
    return [(round(s * size / rate, 6), round(e * size / rate, 6)) for s, e in zip(starts, ends)]
