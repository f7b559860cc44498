"""Draw and render one labelled clip (instrument notes, a spoken word, or a word over a background)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.audio.decode import resample
from pipeline.demo.backgrounds import BACKGROUNDS, background
from pipeline.demo.instruments import PITCH_CLASSES, Note, family_of, render_notes
from pipeline.demo.mix import mix_over_span, power
from pipeline.demo.speech import WORDS, espeak
from pipeline.demo.voices import parse_voice

SILENT_RMS = 3e-4  # about -70 dBFS: some GM programs render (near) silence at some keys
MAX_DRAWS = 50
PITCH_RANGE = (36, 84)  # C2..C6 (MIDI) for the lowest note of a clip
PATTERNS = ("note", "repeat", "octave")
FADE_SECONDS = 0.05  # fade applied where speech is cut to fit a clip


@dataclass(frozen=True)
class Clip:
    """Mono float32 audio at the corpus rate plus what it contains."""

    audio: np.ndarray
    labels: dict = field(default_factory=dict)
    span: tuple[int, int] = (0, 0)  # samples holding the foreground sound (speech), for SNR


def audible(audio: np.ndarray) -> bool:
    """Whether `audio` is non-empty and louder than SILENT_RMS."""
    return len(audio) > 0 and np.sqrt(power(audio)) > SILENT_RMS


def instrument_clip(rng: np.random.Generator, seconds: tuple[float, float], sample_rate: int,
                    family: int | None = None, program: int | None = None) -> Clip:
    """Notes of one GM program (`program`, else one of `family`, else any): held, repeated or an octave."""
    for _ in range(MAX_DRAWS):
        fam = family if family is not None else int(rng.integers(16))
        prog = program if program is not None else fam * 8 + int(rng.integers(8))
        pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
        length = float(rng.uniform(*seconds))
        pattern = str(rng.choice(PATTERNS))
        notes = _pattern(rng, pattern, pitch, int(rng.integers(50, 128)), length)
        audio = render_notes(prog, notes, length, sample_rate)
        if audible(audio):  # some programs are (near) silent at some keys: draw again
            labels = {"family": family_of(prog), "program": prog, "pitch": pitch,
                      "pitch_class": pitch % 12, "pattern": pattern}
            return Clip(at_peak(audio, rng), labels, (0, len(audio)))
    raise RuntimeError(f"no audible rendering after {MAX_DRAWS} draws (family={family}, program={program})")


# the pitch task's classes: the 8 pitch classes of the octatonic scale (alternating semitone and tone steps)
PITCH_TASK_CLASSES = ("C", "C#", "D#", "E", "F#", "G", "A", "A#")
# the GM families its notes are played on (bass and the unpitched families left out): one per generator family
PITCH_TASK_FAMILIES = (0, 1, 2, 3, 5, 7, 8, 9)
PITCH_TASK_OCTAVES = (3, 4, 5)  # MIDI octaves a note is drawn from: C3 (48) .. B5 (83)
UNPITCHED_PROGRAMS = (47,)  # timpani, in the strings family: its pitch class is not what a listener hears


def pitch_clip(rng: np.random.Generator, seconds: tuple[float, float], sample_rate: int, pitch_class: str,
               family: int) -> Clip:
    """One held note of `pitch_class` in a random octave, on a random program of GM family `family`."""
    for _ in range(MAX_DRAWS):
        prog = family * 8 + int(rng.integers(8))
        if prog in UNPITCHED_PROGRAMS:
            continue
        pitch = 12 * (int(rng.choice(PITCH_TASK_OCTAVES)) + 1) + PITCH_CLASSES.index(pitch_class)
        length = float(rng.uniform(*seconds))
        onset = float(rng.uniform(0.0, 0.2))
        note = Note(pitch, int(rng.integers(60, 121)), onset, float(rng.uniform(0.5, length - onset - 0.2)))
        audio = render_notes(prog, [note], length, sample_rate)
        if audible(audio):
            labels = {"family": family, "program": prog, "pitch": pitch, "pitch_class": pitch % 12}
            return Clip(at_peak(audio, rng), labels, (0, len(audio)))
    raise RuntimeError(f"no audible rendering after {MAX_DRAWS} draws (pitch class {pitch_class}, family {family})")


def _pattern(rng: np.random.Generator, pattern: str, pitch: int, velocity: int, length: float) -> list[Note]:
    onset = float(rng.uniform(0.0, 0.3))
    if pattern == "repeat":
        count = int(rng.integers(2, 7))
        step = (length - onset - 0.2) / count
        return [Note(pitch, velocity, onset + i * step, step * float(rng.uniform(0.4, 0.9))) for i in range(count)]
    held = float(rng.uniform(0.3, length - onset - 0.2))
    keys = (pitch, pitch + 12) if pattern == "octave" else (pitch,)
    return [Note(k, velocity, onset, held) for k in keys]


def speak(rng: np.random.Generator, text: str, voice: str, sample_rate: int) -> tuple[np.ndarray, dict]:
    """(`text` spoken by `voice` at a random rate, pitch and range, trimmed, float32 at `sample_rate`, labels)."""
    rate, pitch, spread = (int(rng.integers(lo, hi)) for lo, hi in ((120, 240), (25, 76), (20, 91)))
    engine = espeak()
    raw = engine.synth(text, voice, rate, pitch, spread, seed=int(rng.integers(2 ** 31)))
    labels = {"voice": voice, "language": parse_voice(voice)[0], "rate": rate, "voice_pitch": pitch,
              "pitch_range": spread}
    return resample(trim_silence(raw), engine.sample_rate, sample_rate), labels


def in_silence(rng: np.random.Generator, speech: np.ndarray, seconds: tuple[float, float], sample_rate: int,
               labels: dict) -> Clip:
    """`speech` at a random offset in silence, the clip length drawn from `seconds` (speech cut to fit in it)."""
    margin = sample_rate // 5  # at least 0.2 s of silence around the speech
    longest = int(seconds[1] * sample_rate) - margin
    if len(speech) > longest:
        speech = speech[:longest].copy()
        fade = int(FADE_SECONDS * sample_rate)
        speech[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    total = max(int(round(float(rng.uniform(*seconds)) * sample_rate)), len(speech) + margin)
    start = int(rng.integers(0, total - len(speech) + 1))
    audio = np.zeros(total, np.float32)
    audio[start:start + len(speech)] = speech
    return Clip(at_peak(audio, rng), labels, (start, start + len(speech)))


def speech_clip(rng: np.random.Generator, voices: tuple[str, ...], seconds: tuple[float, float], sample_rate: int,
                word: str | None = None) -> Clip:
    """One word spoken by a random voice at a random rate/pitch, placed at a random offset in silence."""
    for _ in range(MAX_DRAWS):
        text = word if word is not None else str(rng.choice(WORDS))
        speech, labels = speak(rng, text, str(rng.choice(voices)), sample_rate)
        if audible(speech):
            return in_silence(rng, speech, seconds, sample_rate, {"word": text, **labels})
    raise RuntimeError(f"espeak-ng stayed silent after {MAX_DRAWS} draws (word={word})")


def trim_silence(x: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
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
    return replace(clip, audio=at_peak(mixed, rng), labels=labels)


def at_peak(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale to a random peak level in [-20, -3] dBFS (one gain: an SNR inside the clip is kept)."""
    peak = float(np.max(np.abs(audio)))
    target = 10.0 ** (float(rng.uniform(-20.0, -3.0)) / 20.0)
    return (audio * (target / peak)).astype(np.float32)
