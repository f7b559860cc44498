"""espeak-ng words: audible, word-length, and different voices sound different."""
import numpy as np
import pytest

from pipeline.demo.clips import speech_clip
from pipeline.demo.speech import WORDS, espeak
from pipeline.demo.voices import DIALECTS, parse_voice, split_variants, variant_family, variants, voices


def spectral_centroid(x: np.ndarray, rate: int) -> float:
    """Power-weighted mean frequency."""
    power = np.abs(np.fft.rfft(x)) ** 2
    return float(np.sum(np.fft.rfftfreq(len(x), 1 / rate) * power) / np.sum(power))


def test_words_are_audible_and_word_length():
    engine = espeak()
    assert engine.sample_rate == 22050
    for word in ("seven", "house", "marvin"):
        x = engine.synth(word, "en-us+m3")
        assert x.dtype == np.float32 and np.abs(x).max() <= 1.0
        assert 0.2 < len(x) / engine.sample_rate < 1.5
        assert np.sqrt(np.mean(x ** 2)) > 0.01


def test_voices_differ():
    engine = espeak()
    male, female = engine.synth("seven", "en+m1", pitch=40), engine.synth("seven", "en+f3", pitch=60)
    assert spectral_centroid(female, engine.sample_rate) > spectral_centroid(male, engine.sample_rate) * 1.1
    other = engine.synth("seven", "en-gb-scotland+klatt")
    assert len(other) != len(male) or not np.allclose(other, male, atol=1e-3)


def test_rate_param_changes_duration():
    engine = espeak()
    slow, fast = engine.synth("backward", "en-us", rate=120), engine.synth("backward", "en-us", rate=240)
    assert len(slow) > 1.4 * len(fast)


def test_unknown_voice_fails():
    with pytest.raises(ValueError, match="no voice"):
        espeak().synth("one", "xx-nowhere+nobody")


def test_speech_clip_places_word_in_span():
    rng = np.random.default_rng(0)
    clip = speech_clip(rng, voices(("m3", "f2")), (2.0, 4.0), 32000, word="nine")
    lo, hi = clip.span
    assert 2.0 <= len(clip.audio) / 32000 <= 4.0 and 0 <= lo < hi <= len(clip.audio)
    assert not np.any(clip.audio[:lo]) and not np.any(clip.audio[hi:])
    assert clip.labels["word"] == "nine" and clip.labels["language"] == parse_voice(clip.labels["voice"])[0]


def test_split_variants_holds_out_whole_families():
    names = variants()
    corpus, held = split_variants(names, 0.2, seed=0)
    assert set(corpus).isdisjoint(held) and set(corpus) | set(held) == set(names)
    assert {variant_family(v) for v in corpus}.isdisjoint({variant_family(v) for v in held})
    assert 0.2 <= len(held) / len(names) < 0.4
    assert split_variants(names, 0.2, seed=0) == (corpus, held)
    assert split_variants(names, 0.2, seed=1) != (corpus, held)


def test_catalogue():
    assert len(WORDS) == 35 and len(set(WORDS)) == 35
    assert len(variants()) > 50
    assert voices(("f3",)) == tuple(f"{d}+f3" for d in DIALECTS)
