"""Struck objects and transient trains: impacts, knocks, footsteps and clapping."""
from __future__ import annotations

import numpy as np

from pipeline.demo.events.shaping import add_at, bandpass, decay, loguniform, lowpass

# partial ratios of struck bodies: a wooden bar, a metal plate / bell, a glass
MATERIALS = {"wood": (1.0, 2.76, 5.40, 8.93), "metal": (1.0, 1.59, 2.14, 2.30, 2.65, 2.92, 3.16, 3.50),
             "glass": (1.0, 2.32, 4.25, 6.63, 9.38)}


def _modes(style: np.random.Generator, rate: int, short: bool = False) -> np.ndarray:
    """A struck body's modes: rows of (frequency Hz, decay s, amplitude), drawn once per family."""
    material = str(style.choice(sorted(MATERIALS)))
    ratios = np.array(MATERIALS[material]) * style.uniform(0.97, 1.03, len(MATERIALS[material]))
    f0 = loguniform(style, 60.0, 1500.0)
    ring = loguniform(style, 0.01, 0.08) if short else loguniform(style, 0.05, 1.5 if material != "wood" else 0.4)
    decays = ring / ratios ** style.uniform(0.3, 1.0)  # higher partials die faster
    amps = style.uniform(0.2, 1.0, len(ratios)) / ratios ** style.uniform(0.0, 1.0)
    modes = np.stack([f0 * ratios, decays, amps], axis=1)
    return modes[modes[:, 0] < 0.45 * rate]


def _strike(rng: np.random.Generator, modes: np.ndarray, n: int, rate: int) -> np.ndarray:
    """One hit: the modes ringing from t=0 (pitch jittered by the hit) plus a short contact click, (<= n,)."""
    length = min(n, int(5.0 * modes[:, 1].max() * rate) + 1)
    t = np.arange(length) / rate
    freqs = modes[:, :1] * rng.uniform(0.98, 1.02)
    ring = np.sum(modes[:, 2:] * np.sin(2 * np.pi * freqs * t + rng.uniform(0, 2 * np.pi, (len(modes), 1)))
                  * np.exp(-t / modes[:, 1:2]), axis=0)
    click_len = min(length, int(0.004 * rate))
    ring[:click_len] += 0.5 * rng.standard_normal(click_len) * decay(click_len, 0.001, rate)
    return ring


def impact(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """1-3 hits on one ringing body (metal, wood or glass) at random times."""
    modes, out = _modes(style, rate), np.zeros(n)
    for start in np.sort(rng.uniform(0.0, 0.6, int(rng.integers(1, 4)))) * n:
        add_at(out, float(rng.uniform(0.3, 1.0)) * _strike(rng, modes, n - int(start), rate), int(start))
    return out


def knock(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Groups of 2-5 quick dull hits (knocking on a door or a table)."""
    modes, out = _modes(style, rate, short=True), np.zeros(n)
    gap = loguniform(style, 0.08, 0.3)  # seconds between the knocks of a group
    at = float(rng.uniform(0.0, 0.4))
    while at < n / rate - 0.3:
        for i in range(int(rng.integers(2, 6))):
            add_at(out, float(rng.uniform(0.6, 1.0)) * _strike(rng, modes, n, rate),
                   int((at + i * gap * rng.uniform(0.9, 1.1)) * rate))
        at += float(rng.uniform(1.0, 2.5))
    return lowpass(out, loguniform(style, 1500.0, 6000.0), rate)


def _burst(rng: np.random.Generator, seconds: float, lo: float, hi: float, rate: int) -> np.ndarray:
    """A decaying band-passed noise burst (a footfall's thud or scuff, a clap)."""
    length = int(5 * seconds * rate)
    return bandpass(rng.standard_normal(length) * decay(length, seconds, rate), lo, hi, rate)


def footsteps(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Steps at a walking or running pace: a low heel thud then a brighter toe scuff, left/right alternating."""
    pace = float(style.uniform(1.4, 3.2))  # steps per second
    thud_hz, scuff_hz = loguniform(style, 80.0, 400.0), loguniform(style, 1000.0, 5000.0)
    scuff_level, lengths = float(style.uniform(0.1, 0.8)), float(style.uniform(0.015, 0.05))
    out, at, side = np.zeros(n), float(rng.uniform(0.0, 0.5)), 0
    while at < n / rate:
        level = (1.0 if side else float(style.uniform(0.6, 0.9))) * float(rng.uniform(0.8, 1.0))
        add_at(out, level * _burst(rng, lengths, thud_hz * 0.5, thud_hz * 2, rate), int(at * rate))
        add_at(out, level * scuff_level * _burst(rng, lengths * 2, scuff_hz / 2, scuff_hz * 1.5, rate),
               int((at + float(rng.uniform(0.03, 0.09))) * rate))
        at, side = at + float(rng.normal(1.0, 0.05)) / pace, 1 - side
    return out


def clapping(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Hand claps: one person clapping steadily, or an audience (many claps at random times)."""
    people = int(style.choice([1, 1, 2, 5, 20, 60]))
    rate_each = float(style.uniform(2.0, 6.0))  # claps per second per person
    centre, width = loguniform(style, 700.0, 2500.0), float(style.uniform(1.5, 4.0))
    envelope = decay(int(0.04 * rate), float(style.uniform(0.004, 0.012)), rate)
    out = np.zeros(n)
    for _ in range(people):
        pace = rate_each * float(rng.uniform(0.9, 1.1))
        at = float(rng.uniform(0.0, 0.5 if people == 1 else 1.0 / pace))
        while at < n / rate:
            add_at(out, float(rng.uniform(0.5, 1.0)) * rng.standard_normal(len(envelope)) * envelope, int(at * rate))
            at += float(rng.normal(1.0, 0.04)) / pace
    # one filter for every clap: the hands' resonance (filtering each clap alone would cost 1000s of filters)
    return bandpass(out, centre / width, centre * width, rate)
