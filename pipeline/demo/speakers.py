"""Speaker identity: words spoken by one of a few held-out voices, each in sessions of its own pitch, rate and accent."""
from __future__ import annotations

import numpy as np

from pipeline.audio.decode import resample
from pipeline.demo.clips import MAX_DRAWS, Clip, audible, in_silence, trim_silence
from pipeline.demo.speech import WORDS, espeak
from pipeline.demo.voices import DIALECTS, variant_family

SPEAKER_CLASSES = tuple(f"voice_{i}" for i in range(1, 9))  # the speaker task's classes: its i-th voice
PITCH_JITTER = 4  # espeak pitch units a word may move around its session's pitch


def speaker_variants(heldout: tuple[str, ...], count: int = len(SPEAKER_CLASSES)) -> tuple[str, ...]:
    """The first `count` held-out variants of distinct families (two variants of one family sound alike)."""
    chosen, families = [], set()
    for variant in heldout:
        if variant_family(variant) not in families:
            chosen.append(variant)
            families.add(variant_family(variant))
    if len(chosen) < count:
        raise ValueError(f"the speaker task needs {count} held-out voice families, the split has {len(chosen)} "
                         f"(raise demo.heldout_voices)")
    return tuple(chosen[:count])


def session(style: np.random.Generator) -> tuple[str, int, int]:
    """A recording session's (dialect, espeak pitch, rate in words/min), drawn once and shared by its clips."""
    return str(style.choice(DIALECTS)), int(style.integers(30, 71)), int(style.integers(140, 201))


def speaker_clip(rng: np.random.Generator, variant: str, style: np.random.Generator, seconds: tuple[float, float],
                 sample_rate: int) -> Clip:
    """One random word spoken by `variant` in the session `style` draws, at a random offset in silence."""
    dialect, pitch, rate = session(style)
    engine = espeak()
    for _ in range(MAX_DRAWS):
        word = str(rng.choice(WORDS))
        jitter = int(rng.integers(-PITCH_JITTER, PITCH_JITTER + 1))
        raw = engine.synth(word, f"{dialect}+{variant}", rate, pitch + jitter, 50, seed=int(rng.integers(2 ** 31)))
        speech = resample(trim_silence(raw), engine.sample_rate, sample_rate)
        if audible(speech):
            labels = {"voice": f"{dialect}+{variant}", "speaker": variant, "word": word, "voice_pitch": pitch + jitter,
                      "rate": rate}
            return in_silence(rng, speech, seconds, sample_rate, labels)
    raise RuntimeError(f"espeak-ng stayed silent after {MAX_DRAWS} draws (voice={variant})")
