"""The espeak-ng voice catalogue (English dialects x voice variants) and its split into corpus and held-out voices."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# English dialects of espeak-ng; a voice is "<dialect>+<variant>", e.g. "en-us+f3"
DIALECTS = ("en", "en-us", "en-us-nyc", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")


def variants() -> tuple[str, ...]:
    """Every voice variant (speaker timbre) shipped in espeak-ng-data/voices/!v, sorted."""
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_file()))


def variant_family(variant: str) -> str:
    """Variants that differ only by a trailing number ("klatt", "klatt2") count as one speaker family."""
    return re.sub(r"\d+$", "", variant).lower()


def split_variants(names: tuple[str, ...], heldout: float, seed: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(corpus, held-out) variants: whole families are held out until `heldout` of the variants are."""
    families = sorted({variant_family(v) for v in names})
    order = np.random.default_rng([seed, 7]).permutation(len(families))
    held: set[str] = set()
    for i in order:
        if sum(variant_family(v) in held for v in names) >= heldout * len(names):
            break
        held.add(families[i])
    corpus = tuple(v for v in names if variant_family(v) not in held)
    return corpus, tuple(v for v in names if variant_family(v) in held)


def voices(names: tuple[str, ...]) -> tuple[str, ...]:
    """Every dialect combined with every variant in `names`."""
    return tuple(f"{d}+{v}" for v in names for d in DIALECTS)


def parse_voice(voice: str) -> tuple[str, str]:
    """(dialect, variant) of a voice name."""
    dialect, _, variant = voice.partition("+")
    return dialect, variant
