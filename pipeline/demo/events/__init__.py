"""Procedurally synthesised sound events (numpy): a registry of generators and the clip drawn from one.

A generator is `kind(style, rng, n, rate) -> (n,) float64`: it draws the parameters that make a recognisable
source (a bell's partials, an engine's firing rate) from `style`, then the clip's own variation from `rng`,
so clips drawn with one style seed are one "family" (the group of the held-out sound_event task).
"""
from __future__ import annotations

import numpy as np

from pipeline.demo.clips import MAX_DRAWS, Clip, at_peak, audible
from pipeline.demo.events.impacts import clapping, footsteps, impact, knock
from pipeline.demo.events.textures import babble, engine, rain, water, wind
from pipeline.demo.events.tones import alarm, bird, chirp, siren
from pipeline.demo.instruments import remove_dc

EVENTS = {"impact": impact, "knock": knock, "footsteps": footsteps, "clapping": clapping, "rain": rain,
          "wind": wind, "engine": engine, "babble": babble, "water": water, "alarm": alarm, "siren": siren,
          "chirp": chirp, "bird": bird}


def event_clip(rng: np.random.Generator, seconds: tuple[float, float], sample_rate: int, kind: str | None = None,
               style: np.random.Generator | None = None) -> Clip:
    """One procedural event of `kind` (any if None) whose source is drawn from `style` (from `rng` if None)."""
    if kind is not None and kind not in EVENTS:
        raise ValueError(f"unknown event {kind!r}; valid: {sorted(EVENTS)}")
    kind = kind if kind is not None else str(rng.choice(sorted(EVENTS)))
    for _ in range(MAX_DRAWS):
        n = int(round(float(rng.uniform(*seconds)) * sample_rate))
        audio = remove_dc(EVENTS[kind](rng if style is None else style, rng, n, sample_rate), sample_rate)
        if np.all(np.isfinite(audio)) and audible(audio):
            return Clip(at_peak(audio, rng), {"event": kind}, (0, n))
    raise RuntimeError(f"no audible {kind} after {MAX_DRAWS} draws")
