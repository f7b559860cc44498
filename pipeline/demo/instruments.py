"""Sampled General-MIDI instruments: render notes with TinySoundFont from the TimGM6mb soundfont of pretty_midi."""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

# General MIDI groups its 128 programs into 16 families of 8 (program // 8)
GM_FAMILIES = ("piano", "chromatic_percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
               "reed", "pipe", "synth_lead", "synth_pad", "synth_effects", "ethnic", "percussive", "sound_effects")
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# families whose notes have a clear pitch (synth effects, percussive and sound effects often do not)
PITCHED_FAMILIES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13)


@dataclass(frozen=True)
class Note:
    """One MIDI note: key, velocity (1-127), onset and held time in seconds (the release tail follows)."""

    pitch: int
    velocity: int
    onset: float
    duration: float


def family_of(program: int) -> int:
    """The GM family index (0-15) of a GM program (0-127)."""
    return program // 8


def soundfont_path() -> str:
    """Path of the General-MIDI soundfont that ships inside pretty_midi."""
    # find_spec locates the package without importing it (pretty_midi's import pulls in mido and friends)
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pretty_midi is not installed; it ships the TimGM6mb.sf2 soundfont the demo needs")
    path = Path(spec.submodule_search_locations[0]) / "TimGM6mb.sf2"
    if not path.is_file():
        raise FileNotFoundError(f"soundfont {path} not found; install pretty_midi (it ships TimGM6mb.sf2)")
    return str(path)


@functools.lru_cache(maxsize=4)
def _synth(sample_rate: int):
    import tinysoundfont  # imported lazily: only demo building needs it

    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(soundfont_path())
    return synth, sfid


def render_notes(program: int, notes: list[Note], seconds: float, sample_rate: int, drums: bool = False,
                 tuning: float = 0.0) -> np.ndarray:
    """Render `notes` on GM `program` (a drum kit preset if `drums`) into a mono float32 clip of `seconds`.

    `tuning` shifts every note by that many semitones (drum kits have no other way to change pitch); release
    tails are cut at the end.
    """
    synth, sfid = _synth(sample_rate)
    _silence(synth, sfid)
    # General MIDI plays drum kits on channel 10 (index 9) from bank 128
    channel, bank = (9, 128) if drums else (0, 0)
    synth.program_select(channel, sfid, bank, program, drums)
    if tuning:
        synth.set_tuning(channel, tuning)
    total = int(round(seconds * sample_rate))
    # (frame, is_on, note): offs sort before ons at the same frame so a repeated key restarts cleanly
    events = sorted([(int(round(n.onset * sample_rate)), 1, n) for n in notes]
                    + [(int(round((n.onset + n.duration) * sample_rate)), 0, n) for n in notes],
                    key=lambda e: (e[0], e[1]))
    chunks, frame = [], 0
    for at, is_on, note in events:
        at = min(at, total)
        if at > frame:
            chunks.append(_generate(synth, at - frame))
            frame = at
        if is_on:
            synth.noteon(channel, note.pitch, note.velocity)
        else:
            synth.noteoff(channel, note.pitch)
    if total > frame:
        chunks.append(_generate(synth, total - frame))
    return remove_dc(np.concatenate(chunks), sample_rate) if chunks else np.zeros(0, np.float32)


def remove_dc(x: np.ndarray, sample_rate: int, cutoff_hz: float = 20.0) -> np.ndarray:
    """First-order DC blocker: several TimGM6mb samples (saxes, some basses) carry a large DC offset."""
    pole = np.exp(-2.0 * np.pi * cutoff_hz / sample_rate)
    return lfilter([1.0, -1.0], [1.0, -pole], x).astype(np.float32)


def _silence(synth, sfid: int, block: int = 512) -> None:
    """Reset and run the synth until it is silent, so a clip never depends on what was rendered before it."""
    # tsf_reset only starts a ~10 ms fade on ringing voices (and resets the channels): render it away
    synth.soundfonts[sfid].reset()
    for _ in range(200):
        if not np.any(np.frombuffer(synth.generate(block), dtype=np.float32)):
            return
    raise RuntimeError("the soundfont synth did not fall silent after a reset")


def _generate(synth, frames: int) -> np.ndarray:
    stereo = np.frombuffer(synth.generate(frames), dtype=np.float32).reshape(frames, 2)
    return stereo.mean(axis=1)


def render_note(program: int, pitch: int, velocity: int = 100, hold: float = 1.0, seconds: float = 2.0,
                sample_rate: int = 32000) -> np.ndarray:
    """One note held `hold` seconds from time 0, as a mono float32 clip of `seconds`."""
    return render_notes(program, [Note(pitch, velocity, 0.0, hold)], seconds, sample_rate)
