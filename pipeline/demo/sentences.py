"""Multilingual speech: phrases and pseudo-sentences of 20 espeak-ng languages, spoken by the corpus voices."""
from __future__ import annotations

import numpy as np

from pipeline.demo.clips import MAX_DRAWS, Clip, audible, in_silence, speak
from pipeline.demo.phrases import LANGUAGES, PHRASES, pseudo_sentence


def sentence_clip(rng: np.random.Generator, variants: tuple[str, ...], seconds: tuple[float, float],
                  sample_rate: int, language: str | None = None, phrase_share: float = 0.5) -> Clip:
    """A written phrase (with chance `phrase_share`) or a pseudo-sentence of `language` (any if None) in silence.

    The voice is `<language>+<variant>` with a variant (speaker timbre) from `variants`; speech longer than the
    clip is cut to fit.
    """
    if language is not None and language not in PHRASES:
        raise ValueError(f"unknown language {language!r}; valid: {sorted(PHRASES)}")
    for _ in range(MAX_DRAWS):
        lang = language if language is not None else str(rng.choice(LANGUAGES))
        text = str(rng.choice(PHRASES[lang])) if rng.random() < phrase_share else pseudo_sentence(rng, lang)
        speech, labels = speak(rng, text, f"{lang}+{rng.choice(variants)}", sample_rate)
        if audible(speech):
            return in_silence(rng, speech, seconds, sample_rate, {"text": text, **labels})
    raise RuntimeError(f"espeak-ng stayed silent after {MAX_DRAWS} draws (language={language})")
