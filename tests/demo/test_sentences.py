"""Multilingual sentences: every language speaks with every voice variant, clips fit, texts are of the language."""
import numpy as np
import pytest

from pipeline.demo.clips import SILENT_RMS
from pipeline.demo.phrases import LANGUAGES, PHRASES, pseudo_sentence, words
from pipeline.demo.sentences import sentence_clip
from pipeline.demo.speech import espeak
from pipeline.demo.voices import parse_voice, variants

RATE = 32000


def test_catalogue_has_enough_languages_and_words():
    assert len(LANGUAGES) >= 15 and len(set(LANGUAGES)) == len(LANGUAGES)
    for language in LANGUAGES:
        assert len(PHRASES[language]) >= 5 and len(words(language)) >= 25, language
        assert all(w and not any(c in w for c in ".,;:!?¿।") for w in words(language))


def test_every_language_speaks():
    engine = espeak()
    for language in LANGUAGES:
        x = engine.synth(PHRASES[language][0], f"{language}+m3")
        assert 0.5 < len(x) / engine.sample_rate < 4.0, language
        assert np.sqrt(np.mean(x ** 2)) > 0.01, language


def test_every_variant_speaks_a_non_english_language():
    engine = espeak()
    for variant in variants():
        assert np.sqrt(np.mean(engine.synth("dziesięć minut", f"pl+{variant}") ** 2)) > 0.005, variant


def test_pseudo_sentences_use_the_language_words():
    rng = np.random.default_rng(0)
    for language in LANGUAGES:
        text = pseudo_sentence(rng, language)
        chosen = text.rstrip(".").split(" ")
        assert 3 <= len(chosen) <= 6 and set(chosen) <= set(words(language)) and len(set(chosen)) == len(chosen)


def test_sentence_clips_fit_are_audible_and_labelled():
    rng = np.random.default_rng(1)
    for _ in range(12):
        clip = sentence_clip(rng, ("m3", "f2"), (2.0, 4.0), RATE)
        lo, hi = clip.span
        assert 2.0 <= len(clip.audio) / RATE <= 4.0 and 0 <= lo < hi <= len(clip.audio)
        assert np.all(np.isfinite(clip.audio)) and np.sqrt(np.mean(clip.audio[lo:hi] ** 2)) > SILENT_RMS
        assert not np.any(clip.audio[:lo]) and not np.any(clip.audio[hi:])
        language, variant = parse_voice(clip.labels["voice"])
        assert language == clip.labels["language"] in LANGUAGES and variant in ("m3", "f2")


def test_held_out_draws_speak_unseen_text_of_the_requested_language():
    rng = np.random.default_rng(2)
    clips = [sentence_clip(rng, ("m3",), (2.0, 4.0), RATE, language="fr", phrase_share=0.0) for _ in range(5)]
    assert {c.labels["language"] for c in clips} == {"fr"}
    assert not any(c.labels["text"] in PHRASES["fr"] for c in clips)
    with pytest.raises(ValueError, match="valid"):
        sentence_clip(rng, ("m3",), (2.0, 4.0), RATE, language="xx")
