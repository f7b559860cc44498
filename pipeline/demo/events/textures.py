"""Sound textures: rain, wind, engines, crowd babble and water bubbles."""
from __future__ import annotations

import numpy as np

from pipeline.demo.backgrounds import colored_noise
from pipeline.demo.events.shaping import (add_at, bandpass, decay, hann_burst, highpass, loguniform, lowpass,
                                          phase, resonator, slow_curve)

# (F1, F2) of a few vowels (Hz): babble syllables pick one and scale it per talker
VOWELS = ((730, 1090), (530, 1840), (270, 2290), (570, 840), (300, 870), (660, 1720), (490, 1350))


def rain(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Dense random drop clicks (ringing briefly at the surface's pitch) over a bed of filtered noise."""
    density = loguniform(style, 80.0, 3000.0)  # drops per second
    surface, ring = loguniform(style, 1500.0, 9000.0), loguniform(style, 0.0005, 0.006)
    bed_level, bed_cutoff = float(style.uniform(0.05, 0.6)), loguniform(style, 600.0, 8000.0)
    drops = np.zeros(n)
    at = rng.integers(0, n, rng.poisson(density * n / rate))
    np.add.at(drops, at, (rng.pareto(2.5, len(at)) + 0.2) * rng.choice([-1.0, 1.0], len(at)))
    clicks = resonator(drops, surface, 1.0 / (np.pi * ring), rate)
    bed = lowpass(colored_noise(n, 1.0, rng), bed_cutoff, rate)
    swell = 1.0 + 0.3 * slow_curve(rng, n, rate, 0.5)  # the shower thickens and thins
    return swell * (clicks / (np.std(clicks) + 1e-9) + bed_level * bed / (np.std(bed) + 1e-9))


def wind(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Band-pass noise whose level and brightness follow slow gusts, sometimes with a whistling resonance."""
    centre, octaves = loguniform(style, 150.0, 1500.0), float(style.uniform(0.5, 2.0))
    gusts, depth = loguniform(style, 0.1, 1.0), float(style.uniform(0.3, 0.9))  # gusts per second, depth
    whistle = loguniform(style, 500.0, 2500.0) if style.random() < 0.4 else 0.0
    noise = colored_noise(n, 1.0, rng)
    low = bandpass(noise, centre / 2 ** octaves, centre, rate)
    high = bandpass(noise, centre, centre * 2 ** octaves, rate)
    gust = slow_curve(rng, n, rate, gusts)
    # a gust is louder and brighter: weight shifts from the lower to the upper half-band
    out = (1.0 + depth * gust) * (low + (0.5 + 0.5 * gust) * high)
    if whistle:
        out += 4.0 * (0.5 + 0.5 * gust) * resonator(noise, whistle, 15.0, rate)
    return out


def engine(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Cylinder firings at a wobbling low rate (a harmonic series), low-passed, plus firing-modulated noise."""
    fire, cylinders = loguniform(style, 15.0, 120.0), int(style.choice([1, 2, 4, 6, 8]))
    sharpness, cutoff = float(style.uniform(4.0, 40.0)), loguniform(style, 250.0, 3000.0)
    wobble, noise_level = float(style.uniform(0.005, 0.06)), float(style.uniform(0.05, 0.5))
    revs = style.random() < 0.3  # this engine speeds up or slows down within a clip
    accelerate = float(rng.uniform(-0.4, 0.8)) if revs else 0.0
    t = np.arange(n) / n
    freq = fire * float(rng.uniform(0.9, 1.1)) * (1.0 + wobble * slow_curve(rng, n, rate, 3.0)) * (1.0 + accelerate * t)
    cycles = phase(freq, n, rate) / (2 * np.pi)
    strength = style.uniform(0.6, 1.0, cylinders)[np.floor(cycles).astype(int) % cylinders]  # uneven cylinders
    pulses = strength * np.exp(-sharpness * (cycles % 1.0))
    noise = highpass(rng.standard_normal(n), 200.0, rate) * pulses
    return lowpass(pulses - pulses.mean() + noise_level * noise, cutoff, rate)


def babble(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Several talkers' syllables: voiced pulse trains and noise through two vowel formants, overlapping."""
    talkers, syllables_per_s = int(style.integers(3, 11)), float(style.uniform(3.0, 6.0))
    out = np.zeros(n)
    for _ in range(talkers):
        pitch, scale = loguniform(rng, 90.0, 260.0), float(rng.uniform(0.85, 1.2))  # voice pitch, vocal tract
        level, at = float(rng.uniform(0.25, 1.0)), float(rng.uniform(0.0, 0.4))
        while at < n / rate:
            length = int(float(rng.uniform(0.08, 0.3)) * rate)
            f1, f2 = (scale * f for f in VOWELS[int(rng.integers(len(VOWELS)))])
            voiced = np.sin(phase(pitch * float(rng.uniform(0.9, 1.1)), length, rate)) ** 15  # a glottal-ish buzz
            source = voiced + float(rng.uniform(0.02, 0.3)) * rng.standard_normal(length)
            syllable = resonator(source, f1, 80.0, rate) + 0.6 * resonator(source, f2, 120.0, rate)
            add_at(out, level * hann_burst(length) * syllable, int(at * rate))
            at += length / rate + float(rng.exponential(1.0 / syllables_per_s))
    return lowpass(out, loguniform(style, 2500.0, 6000.0), rate)


def water(style: np.random.Generator, rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Bubbles (short sinusoid blips whose pitch rises as they decay) over a faint stream noise."""
    per_second, lowest = loguniform(style, 4.0, 100.0), loguniform(style, 250.0, 1500.0)
    spread, rise = float(style.uniform(1.5, 4.0)), float(style.uniform(0.1, 1.5))  # pitch span; rise per blip
    blip, stream = loguniform(style, 0.004, 0.03), float(style.uniform(0.0, 0.3))
    out = np.zeros(n)
    for at in rng.integers(0, n, max(rng.poisson(per_second * n / rate), 1)):
        length = int(5 * blip * rate)
        f0 = lowest * spread ** float(rng.random())
        t = np.arange(length) / rate
        # the pitch glides up by `rise` as the bubble's ring decays
        tone = np.sin(phase(f0 * (1.0 + rise * (1.0 - np.exp(-t / blip))), length, rate)) * decay(length, blip, rate)
        add_at(out, float(rng.uniform(0.2, 1.0)) * tone, int(at))
    bed = bandpass(rng.standard_normal(n), 200.0, 3000.0, rate)
    return out / (np.max(np.abs(out)) + 1e-9) + stream * bed / (np.std(bed) + 1e-9) * 0.2
