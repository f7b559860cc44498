"""Draw and render one labelled clip (instrument notes, a spoken word, or a word over a background)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.audio.decode import resample
from pipeline.demo.backgrounds import BACKGROUNDS, background
from pipeline.demo.instruments import PITCHED_FAMILIES, Note, family_of, render_notes
from pipeline.demo.mix import mix_over_span, power
from pipeline.demo.speech import WORDS, espeak
from pipeline.demo.voices import parse_voice

SILENT_RMS = 3e-4  # about -70 dBFS: some GM programs render (near) silence at some keys
MAX_DRAWS = 50
PITCH_RANGE = (36, 84)  # C2..C6 (MIDI) for the lowest note of a clip
PATTERNS = ("note", "repeat", "octave")


@dataclass(frozen=True)
class Clip:
    """Mono float32 audio at the corpus rate plus what it contains."""

    audio: np.ndarray
    labels: dict = field(default_factory=dict)
    span: tuple[int, int] = (0, 0)  # samples holding the foreground sound (speech), for SNR


def instrument_clip(rng: np.random.Generator, seconds: tuple[float, float], sample_rate: int,
                    family: int | None = None, pitch_class: int | None = None) -> Clip:
    """Notes of one GM program: a held note, a repeated note or an octave; re-drawn while silent."""
    for _ in range(MAX_DRAWS):
        families = PITCHED_FAMILIES if pitch_class is not None else range(16)
        fam = family if family is not None else int(rng.choice(families))
        program = fam * 8 + int(rng.integers(8))
        if pitch_class is None:
            pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
        else:
            pitch = 12 * int(rng.integers(3, 7)) + pitch_class
        length = float(rng.uniform(*seconds))
        pattern = str(rng.choice(PATTERNS))
        notes = _pattern(rng, pattern, pitch, int(rng.integers(50, 128)), length)
        audio = render_notes(program, notes, length, sample_rate)
        if np.sqrt(power(audio)) > SILENT_RMS:
            labels = {"family": family_of(program), "program": program, "pitch": pitch,
                      "pitch_class": pitch % 12, "pattern": pattern}
            return Clip(_at_peak(audio, rng), labels, (0, len(audio)))
    raise RuntimeError(f"no audible rendering after {MAX_DRAWS} draws (family={family}, pitch_class={pitch_class})")


def _pattern(rng: np.random.Generator, pattern: str, pitch: int, velocity: int, length: float) -> list[Note]:
    onset = float(rng.uniform(0.0, 0.3))
    if pattern == "repeat":
        count = int(rng.integers(2, 7))
        step = (length - onset - 0.2) / count
        return [Note(pitch, velocity, onset + i * step, step * float(rng.uniform(0.4, 0.9))) for i in range(count)]
    held = float(rng.uniform(0.3, length - onset - 0.2))
    keys = (pitch, pitch + 12) if pattern == "octave" else (pitch,)
    return [Note(k, velocity, onset, held) for k in keys]


def speech_clip(rng: np.random.Generator, voices: tuple[str, ...], seconds: tuple[float, float], sample_rate: int,
                word: str | None = None) -> Clip:
    """One word spoken by a random voice at a random rate/pitch, placed at a random offset in silence."""
    for _ in range(MAX_DRAWS):
        text = word if word is not None else str(rng.choice(WORDS))
        voice = str(rng.choice(voices))
        rate, pitch, spread = (int(rng.integers(lo, hi)) for lo, hi in ((120, 240), (25, 76), (20, 91)))
        engine = espeak()
        raw = engine.synth(text, voice, rate, pitch, spread, seed=int(rng.integers(2 ** 31)))
        speech = resample(_trim(raw), engine.sample_rate, sample_rate)
        if len(speech) and np.sqrt(power(speech)) > SILENT_RMS:
            break
    else:
        raise RuntimeError(f"espeak-ng stayed silent after {MAX_DRAWS} draws (word={word})")
    total = max(int(round(float(rng.uniform(*seconds)) * sample_rate)), len(speech) + sample_rate // 5)
    start = int(rng.integers(0, total - len(speech) + 1))
    audio = np.zeros(total, np.float32)
    audio[start:start + len(speech)] = speech
    labels = {"word": text, "voice": voice, "language": parse_voice(voice)[0],
              "rate": rate, "voice_pitch": pitch, "pitch_range": spread}
    return Clip(_at_peak(audio, rng), labels, (start, start + len(speech)))


def _trim(x: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """Drop espeak's leading/trailing near-silence so the span (and SNR) covers the word itself."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    return x[loud[0]:loud[-1] + 1] if len(loud) else x[:0]


def with_background(clip: Clip, rng: np.random.Generator, snr_db: tuple[float, float], sample_rate: int) -> Clip:
    """Add a random background across the whole clip, at an SNR drawn from `snr_db` over the foreground span."""
    lo, hi = clip.span
    for _ in range(MAX_DRAWS):
        kind = str(rng.choice(sorted(BACKGROUNDS)))
        noise = background(kind, len(clip.audio), rng, sample_rate)
        if power(noise[lo:hi]) > SILENT_RMS ** 2:
            break
    else:
        raise RuntimeError(f"no audible background after {MAX_DRAWS} draws")
    target = float(rng.uniform(*snr_db))
    mixed = mix_over_span(clip.audio, noise, clip.span, target)
    labels = {**clip.labels, "background": kind, "snr_db": round(target, 3)}
    return replace(clip, audio=_at_peak(mixed, rng), labels=labels)


def _at_peak(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale to a random peak level in [-20, -3] dBFS (one gain: an SNR inside the clip is kept)."""
    peak = float(np.max(np.abs(audio)))
    target = 10.0 ** (float(rng.uniform(-20.0, -3.0)) / 20.0)
    return (audio * (target / peak)).astype(np.float32)
