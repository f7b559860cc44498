"""The speaker task's voices: distinct held-out families, sessions shared by their clips, words that vary."""
import numpy as np
import pytest

from pipeline.demo.speakers import SPEAKER_CLASSES, session, speaker_clip, speaker_variants
from pipeline.demo.voices import DIALECTS, split_variants, variant_family, variants

RATE = 16000


def test_speakers_are_held_out_voices_of_distinct_families():
    corpus, heldout = split_variants(variants(), 0.2, 0)
    chosen = speaker_variants(heldout)
    assert len(chosen) == len(SPEAKER_CLASSES) == 8
    assert set(chosen) <= set(heldout) and not set(chosen) & set(corpus)
    assert len({variant_family(v) for v in chosen}) == len(chosen)


def test_too_few_heldout_families_is_a_clear_error():
    with pytest.raises(ValueError, match="heldout_voices"):
        speaker_variants(("m1", "m2", "m3"))


def test_clips_of_one_session_share_accent_pitch_and_rate_but_not_words():
    variant = speaker_variants(split_variants(variants(), 0.2, 0)[1])[0]
    clips = [speaker_clip(np.random.default_rng(i), variant, np.random.default_rng(99), (1.0, 2.0), RATE)
             for i in range(6)]
    dialect, pitch, rate = session(np.random.default_rng(99))
    assert dialect in DIALECTS
    for clip in clips:
        assert clip.labels["speaker"] == variant and clip.labels["voice"] == f"{dialect}+{variant}"
        assert abs(clip.labels["voice_pitch"] - pitch) <= 4 and clip.labels["rate"] == rate
        lo, hi = clip.span
        assert 0 <= lo < hi <= len(clip.audio) and np.abs(clip.audio[lo:hi]).max() > 0.01
    assert len({clip.labels["word"] for clip in clips}) >= 3
