"""Polyphonic scenes: 2-3 corpus sources at random onsets and relative levels, as in AudioSet clips."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.demo.backgrounds import BACKGROUNDS, background
from pipeline.demo.clips import Clip, at_peak, audible, instrument_clip, speech_clip
from pipeline.demo.events import event_clip
from pipeline.demo.percussion import percussion_clip
from pipeline.demo.sentences import sentence_clip
from pipeline.demo.tags import tags

LEVELS_DB = (-15.0, 0.0)  # level of each part relative to the others
FRAME_SECONDS = 0.05
ACTIVE_BELOW_PEAK = 1e-3  # frames within 30 dB of the loudest one count as sounding


@dataclass(frozen=True)
class Speakers:
    """The voices a scene's speech may use: English voices (words) and voice variants (sentences)."""

    voices: tuple[str, ...]
    variants: tuple[str, ...]


def _background(rng: np.random.Generator, seconds: tuple[float, float], rate: int, speakers: Speakers) -> Clip:
    """A background filling the whole scene (noise or music)."""
    kind, n = str(rng.choice(sorted(BACKGROUNDS))), int(round(seconds[1] * rate))
    return Clip(background(kind, n, rng, rate), {"background": kind}, (0, n))


# part -> (rng, (shortest, longest) seconds, rate, speakers) -> Clip
PARTS = {
    "events": lambda rng, s, r, v: event_clip(rng, s, r),
    "percussion": lambda rng, s, r, v: percussion_clip(rng, s, r),
    "instrument": lambda rng, s, r, v: instrument_clip(rng, s, r),
    "speech": lambda rng, s, r, v: speech_clip(rng, v.voices, s, r),
    "sentences": lambda rng, s, r, v: sentence_clip(rng, v.variants, s, r),
    "background": _background,
}


def scene_clip(rng: np.random.Generator, seconds: tuple[float, float], sample_rate: int,
               speakers: Speakers) -> Clip:
    """2-3 different parts mixed at levels drawn from LEVELS_DB, each at a random onset (or crop) in the scene."""
    n = int(round(float(rng.uniform(*seconds)) * sample_rate))
    kinds = sorted(str(k) for k in rng.choice(sorted(PARTS), size=int(rng.integers(2, 4)), replace=False))
    mix, part_tags = np.zeros(n), []
    for kind in kinds:
        part = PARTS[kind](rng, (1.0, n / sample_rate), sample_rate, speakers)
        gain = 10.0 ** (float(rng.uniform(*LEVELS_DB)) / 20.0) / loudness(part.audio, sample_rate)
        mix += gain * placed(rng, part.audio, n)
        part_tags.append(tags(kind, part.labels))
    if not audible(mix):
        raise RuntimeError(f"silent scene of {kinds}")
    labels = {"parts": "+".join(kinds), "scene_tags": ";".join(part_tags)}
    return Clip(at_peak(mix, rng), labels, (0, n))


def frame_power(audio: np.ndarray, rate: int) -> np.ndarray:
    """Mean power of each whole 50 ms frame of `audio` (a trailing partial frame left out), (frames,) float64."""
    size = max(int(FRAME_SECONDS * rate), 1)
    frames = audio[:len(audio) // size * size].astype(np.float64).reshape(-1, size)
    return np.mean(frames ** 2, axis=1)


def sounding(power: np.ndarray) -> np.ndarray:
    """(frames,) bool: the frames of `frame_power` within 30 dB of the loudest, where a sound sounds."""
    return power >= power.max() * ACTIVE_BELOW_PEAK


def loudness(audio: np.ndarray, rate: int) -> float:
    """RMS over the 50 ms frames within 30 dB of the loudest: a sound's level while it sounds (sparse hits too)."""
    power = frame_power(audio, rate)
    return float(np.sqrt(np.mean(power[sounding(power)]))) + 1e-9


def placed(rng: np.random.Generator, audio: np.ndarray, n: int) -> np.ndarray:
    """`audio` in a clip of n samples: at a random onset if shorter, a random n-sample crop if longer, (n,)."""
    out = np.zeros(n)
    if len(audio) >= n:
        start = int(rng.integers(0, len(audio) - n + 1))
        out[:] = audio[start:start + n]
    else:
        start = int(rng.integers(0, n - len(audio) + 1))
        out[start:start + len(audio)] = audio
    return out
