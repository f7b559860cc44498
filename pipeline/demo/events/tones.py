"""Tonal signals: alarms and beeps, sirens, chirps and bird-like calls."""
from __future__ import annotations

import numpy as np

from pipeline.demo.events.shaping import add_at, gate, hann_burst, harmonics, loguniform, phase


def _timbre(style: np.random.Generator, most: int) -> np.ndarray:
    """Amplitudes of harmonics 1..k (k <= most), falling off at a random slope: a pure to a buzzy tone."""
    count = int(style.integers(1, most + 1))
    return 1.0 / np.arange(1, count + 1) ** float(style.uniform(0.7, 2.5))


def _bandlimit(amplitudes: np.ndarray, top_hz: float, rate: int) -> np.ndarray:
    """Drop harmonics that would pass 0.45 of the sample rate."""
    return amplitudes[:max(1, int(0.45 * rate // top_hz))]


def alarm(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Beeps: a tone (or two alternating tones) switched on and off with a fixed rhythm."""
    freq, second = loguniform(style, 400.0, 3500.0), float(style.choice([1.0, 0.75, 0.8, 1.25, 1.5]))
    on, off = loguniform(style, 0.04, 0.5), loguniform(style, 0.04, 0.5)  # seconds
    amps = _bandlimit(_timbre(style, 6), freq * max(second, 1.0), rate)
    t = np.arange(n) / rate + float(rng.uniform(0.0, on + off))
    beat = np.floor(t / (on + off)).astype(int)
    pitch = freq * float(rng.uniform(0.98, 1.02)) * np.where(beat % 2 == 1, second, 1.0)
    return harmonics(phase(pitch, n, rate), amps) * gate((t % (on + off)) < on, rate)


def siren(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """A tone swept up and down around a centre pitch: slow wail or fast yelp, sine or rising-saw sweep."""
    centre, depth = loguniform(style, 500.0, 1600.0), float(style.uniform(0.15, 0.5))
    speed, shape = loguniform(style, 0.15, 4.0), str(style.choice(["sine", "saw"]))  # sweeps per second
    amps = _bandlimit(_timbre(style, 5), centre * (1 + depth), rate)
    sweep = (np.arange(n) / rate * speed * float(rng.uniform(0.95, 1.05)) + float(rng.random())) % 1.0
    lfo = np.sin(2 * np.pi * sweep) if shape == "sine" else 2.0 * sweep - 1.0
    swell = np.linspace(float(rng.uniform(0.3, 1.0)), float(rng.uniform(0.3, 1.0)), n)  # passing by
    return swell * harmonics(phase(centre * (1.0 + depth * lfo), n, rate), amps)


def chirp(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Fast sweeps (blips, lasers, sonar pings): bursts of 1-6 identical sweeps."""
    start, stop = loguniform(style, 300.0, 8000.0), loguniform(style, 300.0, 8000.0)
    length, per_burst = loguniform(style, 0.02, 0.25), int(style.integers(1, 7))
    spacing = length + loguniform(style, 0.02, 0.3)
    amps = _bandlimit(_timbre(style, 3), max(start, stop), rate)
    size = int(length * rate)
    sweep = start * (stop / start) ** np.linspace(0.0, 1.0, size)  # exponential: even in pitch
    tone = harmonics(phase(sweep, size, rate), amps) * hann_burst(size) ** 0.5
    out = np.zeros(n)
    for burst_at in np.sort(rng.uniform(0.0, 0.7, int(rng.integers(1, 4)))) * n / rate:
        for i in range(per_burst):
            add_at(out, tone, int((burst_at + i * spacing) * rate))
    return out


def bird(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Bird-like calls: phrases of short frequency-modulated syllables with a few harmonics."""
    base, slope = loguniform(style, 2000.0, 6500.0), float(style.uniform(-0.35, 0.35))  # pitch, glide per syllable
    vibrato, depth = loguniform(style, 5.0, 80.0), float(style.uniform(0.0, 0.25))
    syllable, gap = loguniform(style, 0.03, 0.25), loguniform(style, 0.02, 0.25)  # seconds
    per_phrase, amps = int(style.integers(2, 11)), _bandlimit(_timbre(style, 3), base * 2.0, rate)
    out, at = np.zeros(n), float(rng.uniform(0.0, 0.5))
    while at < n / rate - syllable:
        for _ in range(per_phrase):
            size = int(syllable * float(rng.uniform(0.8, 1.2)) * rate)
            if at * rate + size > n:
                break  # no syllable cut off by the clip's end
            t = np.arange(size) / rate  # seconds into the syllable
            bend = slope * t / t[-1] + depth * np.sin(2 * np.pi * vibrato * t)  # glide + vibrato
            freq = base * float(rng.uniform(0.93, 1.07)) * (1.0 + bend)
            add_at(out, harmonics(phase(freq, size, rate), amps) * hann_burst(size), int(at * rate))
            at += size / rate + gap
        at += float(rng.uniform(0.3, 1.5))  # a pause between phrases
    return out
