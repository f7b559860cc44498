"""General-MIDI drum kits of the TimGM6mb soundfont: single hits, rolls and short grooves of 2-4 kit pieces."""
from __future__ import annotations

import numpy as np

from pipeline.demo.clips import MAX_DRAWS, Clip, at_peak, audible
from pipeline.demo.instruments import Note, render_notes

# the drum kit presets of bank 128 in TimGM6mb (GM2 numbering)
DRUM_KITS = {"standard": 0, "room": 8, "power": 16, "electronic": 24, "tr808": 25, "jazz": 32, "brush": 40,
             "orchestra": 48}
# kit piece -> its GM percussion keys (alternatives: acoustic/electric snare, low..high toms, ...)
KIT_PIECES = {"kick": (35, 36), "snare": (38, 40), "closed_hihat": (42, 44), "open_hihat": (46,),
              "tom": (41, 43, 45, 47, 48, 50), "crash": (49, 57), "clap": (39,), "cowbell": (56,),
              "ride": (51, 59), "side_stick": (37,), "tambourine": (54,), "conga": (62, 63, 64),
              "bongo": (60, 61), "shaker": (69, 70), "woodblock": (76, 77), "triangle": (80, 81)}
PATTERNS = ("single", "roll", "groove")
CORE_PIECES = ("kick", "snare", "closed_hihat", "open_hihat", "ride")  # grooves favour a drum-set's basics
TUNING = (-4.0, 4.0)  # semitones a kit may be retuned by (the only pitch control drum presets have)


def percussion_clip(rng: np.random.Generator, seconds: tuple[float, float], sample_rate: int,
                    piece: str | None = None, style: np.random.Generator | None = None) -> Clip:
    """Hits of one drum kit: a single hit or a roll of `piece` (any piece if None), or a groove of 2-4 pieces.

    `style` draws the kit sound (preset, key, tuning, loudness: a task's group); None draws it from `rng`.
    """
    style = rng if style is None else style
    kit = str(style.choice(sorted(DRUM_KITS)))
    tuning, velocity = float(style.uniform(*TUNING)), int(style.integers(40, 128))
    keys = {p: int(style.choice(KIT_PIECES[p])) for p in sorted(KIT_PIECES)}  # one key per piece, for the clip
    for _ in range(MAX_DRAWS):
        length = float(rng.uniform(*seconds))
        pattern = str(rng.choice(PATTERNS if piece is None else PATTERNS[:2]))  # a groove needs several pieces
        pieces = _pieces(rng, pattern, piece)
        hits = _hits(rng, pattern, [keys[p] for p in pieces], velocity, length)
        audio = render_notes(DRUM_KITS[kit], hits, length, sample_rate, drums=True, tuning=tuning)
        if audible(audio):
            labels = {"kit": kit, "kit_piece": "+".join(pieces), "pattern": pattern, "tuning": round(tuning, 3)}
            return Clip(at_peak(audio, rng), labels, (0, len(audio)))
    raise RuntimeError(f"no audible drum rendering after {MAX_DRAWS} draws (kit={kit}, piece={piece})")


def _pieces(rng: np.random.Generator, pattern: str, piece: str | None) -> list[str]:
    """The kit pieces a clip plays: the requested one, one at random, or 2-4 for a groove."""
    if piece is not None:
        return [piece]
    names = sorted(KIT_PIECES)
    if pattern != "groove":
        return [str(rng.choice(names))]
    weights = np.array([3.0 if p in CORE_PIECES else 1.0 for p in names])
    chosen = rng.choice(names, size=int(rng.integers(2, 5)), replace=False, p=weights / weights.sum())
    return sorted(str(p) for p in chosen)


def _hits(rng: np.random.Generator, pattern: str, keys: list[int], velocity: int, length: float) -> list[Note]:
    """Notes of a pattern; each rings to the end of the clip (drum samples stop by themselves)."""
    if pattern == "single":
        onsets = np.sort(rng.uniform(0.0, length * 0.6, size=int(rng.integers(1, 4))))
        return [_hit(rng, keys[0], velocity, t, length) for t in onsets]
    if pattern == "roll":
        start, rate = float(rng.uniform(0.0, 0.5)), float(rng.uniform(6.0, 24.0))  # hits per second
        stop = start + float(rng.uniform(0.3, length - start - 0.2))
        onsets = np.arange(start, stop, 1.0 / rate)
        swell = np.linspace(float(rng.uniform(0.3, 1.0)), float(rng.uniform(0.3, 1.0)), len(onsets))  # cresc./dim.
        return [_hit(rng, keys[0], velocity * s, t, length) for t, s in zip(onsets, swell)]
    return _groove(rng, keys, velocity, length)


def _groove(rng: np.random.Generator, keys: list[int], velocity: int, length: float) -> list[Note]:
    """A one-bar pattern on a 16th-note grid (each piece with its own density, accents on beats), repeated."""
    step = 60.0 / float(rng.uniform(70.0, 170.0)) / 4.0  # seconds per 16th note
    beats = np.arange(16) % 4 == 0
    bar = {k: (rng.random(16) < float(rng.uniform(0.15, 0.6))) | (beats & (rng.random(16) < 0.5)) for k in keys}
    notes = []
    for i, t in enumerate(np.arange(float(rng.uniform(0.0, 0.2)), length - 0.1, step)):
        notes += [_hit(rng, k, velocity * (1.0 if beats[i % 16] else 0.75), t, length)
                  for k in keys if bar[k][i % 16]]
    return notes or [_hit(rng, keys[0], velocity, 0.0, length)]


def _hit(rng: np.random.Generator, key: int, velocity: float, onset: float, length: float) -> Note:
    """One drum hit with a little velocity jitter."""
    vel = int(np.clip(round(velocity + rng.normal(0.0, 6.0)), 1, 127))
    return Note(key, vel, float(onset), max(length - float(onset), 1e-3))
