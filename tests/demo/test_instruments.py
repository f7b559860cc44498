"""Sampled GM instruments: pitch matches the MIDI label, renders are order-independent and DC-free."""
from pathlib import Path

import numpy as np
import pytest

from pipeline.demo.clips import (PITCH_TASK_FAMILIES, PITCH_TASK_OCTAVES, SILENT_RMS, UNPITCHED_PROGRAMS,
                                 instrument_clip, pitch_clip)
from pipeline.demo.instruments import (GM_FAMILIES, PITCH_CLASSES, Note, family_of, remove_dc, render_note,
                                       render_notes, soundfont_path)

RATE = 32000


def autocorr_f0(x: np.ndarray, rate: int) -> float:
    """f0 from the first autocorrelation maximum between 50 Hz and 2 kHz (independent of the FFT check)."""
    x = x[int(0.05 * rate):int(0.6 * rate)]
    x = x - x.mean()
    ac = np.correlate(x, x, "full")[len(x) - 1:]
    lo, hi = rate // 2000, rate // 50
    return rate / (lo + int(np.argmax(ac[lo:hi])))


def chroma_class(x: np.ndarray, rate: int) -> int:
    """The pitch class holding most spectral energy between 50 Hz and 2 kHz."""
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    keep = (freqs > 50) & (freqs < 2000)
    classes = np.round(69 + 12 * np.log2(freqs[keep] / 440.0)).astype(int) % 12
    return int(np.argmax(np.bincount(classes, weights=power[keep], minlength=12)))


def test_piano_a4_is_440_hz():
    x = render_note(0, 69, velocity=100, hold=1.0, seconds=1.5, sample_rate=RATE)
    assert x.dtype == np.float32 and len(x) == int(1.5 * RATE)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    peak = np.fft.rfftfreq(len(x), 1 / RATE)[np.argmax(spectrum)]
    assert abs(peak - 440.0) < 440.0 * 0.01
    assert abs(autocorr_f0(x, RATE) - 440.0) < 440.0 * 0.02


@pytest.mark.parametrize("program,pitch", [(0, 57), (19, 60), (40, 76), (73, 81)])
def test_fundamental_follows_midi_pitch(program, pitch):
    x = render_note(program, pitch, hold=1.0, seconds=1.2, sample_rate=RATE)
    expected = 440.0 * 2 ** ((pitch - 69) / 12)
    f0 = autocorr_f0(x, RATE)
    # an organ's strong octave-down pipe may pick the sub-octave: compare pitch classes in cents
    cents = 1200 * np.log2(f0 / expected)
    assert abs(cents - 1200 * round(cents / 1200)) < 40


def test_pitch_class_labels_match_audio():
    rng = np.random.default_rng(5)
    clips = [instrument_clip(rng, (2.0, 2.5), RATE, family=fam) for fam in (0, 5) for _ in range(12)]
    hits = sum(chroma_class(c.audio, RATE) == c.labels["pitch_class"] for c in clips)
    assert hits >= 20  # of 24 piano and strings clips


def test_render_does_not_depend_on_what_came_before():
    first = render_note(0, 60, seconds=1.0, sample_rate=RATE)
    render_notes(48, [Note(40, 127, 0.0, 2.0), Note(47, 90, 0.1, 2.0)], 1.0, RATE)  # cut mid-note
    assert np.array_equal(first, render_note(0, 60, seconds=1.0, sample_rate=RATE))


def test_instrument_clip_is_audible_labelled_and_dc_free():
    rng = np.random.default_rng(0)
    for _ in range(20):
        clip = instrument_clip(rng, (2.0, 4.0), RATE)
        assert 2.0 <= len(clip.audio) / RATE <= 4.0
        assert np.sqrt(np.mean(clip.audio ** 2)) > SILENT_RMS
        assert 10 ** (-20.5 / 20) <= np.abs(clip.audio).max() <= 10 ** (-2.5 / 20)
        assert abs(clip.audio.mean()) < 0.05 * np.sqrt(np.mean(clip.audio ** 2)) + 1e-4
        assert clip.labels["family"] == family_of(clip.labels["program"])
        assert clip.labels["pitch_class"] == clip.labels["pitch"] % 12


def test_task_draws_respect_requested_family_and_program():
    rng = np.random.default_rng(1)
    assert {instrument_clip(rng, (2.0, 2.0), RATE, family=f).labels["family"] for f in range(16)} == set(range(16))
    assert instrument_clip(rng, (2.0, 2.0), RATE, family=5, program=43).labels["program"] == 43


def test_drum_kit_and_tuning_do_not_leak_into_the_next_render():
    snare = [Note(38, 100, 0.0, 0.5)]
    first, plain = render_note(0, 60, seconds=1.0, sample_rate=RATE), render_notes(25, snare, 1.0, RATE, drums=True)
    tuned = render_notes(25, snare, 1.0, RATE, drums=True, tuning=3.0)
    assert np.sqrt(np.mean(tuned ** 2)) > SILENT_RMS and not np.allclose(tuned, plain)
    assert np.array_equal(plain, render_notes(25, snare, 1.0, RATE, drums=True))
    assert np.array_equal(first, render_note(0, 60, seconds=1.0, sample_rate=RATE))


def test_remove_dc_kills_offset_keeps_tone():
    t = np.arange(RATE) / RATE
    tone = np.sin(2 * np.pi * 440 * t)
    out = remove_dc(tone + 0.5, RATE)
    assert abs(out[RATE // 2:].mean()) < 1e-3
    assert np.sqrt(np.mean(out[RATE // 2:] ** 2)) == pytest.approx(np.sqrt(0.5), rel=0.01)


def test_catalogue_constants():
    assert Path(soundfont_path()).name == "TimGM6mb.sf2"
    assert len(GM_FAMILIES) == 16 and len(set(GM_FAMILIES)) == 16 and len(PITCH_CLASSES) == 12
    assert [family_of(p) for p in (0, 7, 8, 127)] == [0, 0, 1, 15]


@pytest.mark.parametrize("pitch_class, family", [("C", 0), ("F#", 2), ("A#", 5), ("E", 9)])
def test_pitch_task_notes_carry_their_pitch_class(pitch_class, family):
    clip = pitch_clip(np.random.default_rng(7), (2.0, 2.5), RATE, pitch_class, family)
    assert clip.labels["pitch_class"] == PITCH_CLASSES.index(pitch_class) == clip.labels["pitch"] % 12
    assert family_of(clip.labels["program"]) == family == clip.labels["family"]
    assert clip.labels["pitch"] // 12 - 1 in PITCH_TASK_OCTAVES
    cents = 1200 * np.log2(autocorr_f0(clip.audio, RATE) / (440.0 * 2 ** ((clip.labels["pitch"] - 69) / 12)))
    assert abs(cents - 1200 * round(cents / 1200)) < 50  # the pitch class, whichever octave autocorrelation finds


def test_pitch_task_labels_match_audio_across_families():
    clips = [pitch_clip(np.random.default_rng(i), (2.0, 2.5), RATE, PITCH_CLASSES[i % 12], family)
             for i, family in enumerate(PITCH_TASK_FAMILIES * 3)]
    assert not any(c.labels["program"] in UNPITCHED_PROGRAMS for c in clips)
    hits = sum(chroma_class(c.audio, RATE) == c.labels["pitch_class"] for c in clips)
    assert hits >= 20  # of 24 notes on 8 families


def test_pitch_task_octaves_vary_within_a_class():
    octaves = {pitch_clip(np.random.default_rng(s), (2.0, 2.5), RATE, "G", 0).labels["pitch"] // 12 for s in range(12)}
    assert len(octaves) >= 2
