"""Augmented views of corpus clips that a teacher embeds once and training replays exactly ("consistent teacher").

A view is one training-length window of a clip, changed by a few waveform augmentations whose parameters are drawn
per (clip, view) and recorded in the store, row-aligned with the windows:

    crop   a random start inside the clip (clips no longer than the window start at 0)
    shift  a delay (> 0) or advance (< 0) of up to `shift_seconds` inside the window, zero-filled
    gain   a level change of up to +-`gain_db`
    mix    with probability `mix_prob`, another clip (a random window of it) added `mix_db` below the view's RMS

Rendering (`render`) is a pure function of the corpus and the recorded parameters, at the corpus sample rate, in
float64 arithmetic cast to float32 at the end: the waveform training rebuilds is bit-identical to the one the teacher
embedded (the teacher's own resampling comes after). Draws depend only on the corpus fingerprint, the augmentation
settings, the clip row and the view index, so every teacher's store of one corpus holds the same views (several
teachers can be distilled on them together) and the first K views of a K' > K store are the K views of a K store.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.config import check
from pipeline.store.layout import VIEW_PARAMS as PARAMS  # columns of the recorded `view_params` (n_rows, 4)

AUGMENTS = ("crop", "shift", "gain", "mix")


@dataclass(frozen=True)
class ViewAugment:
    """Which augmentations a view gets and their ranges (params `embed.view_augment`)."""

    names: tuple[str, ...] = AUGMENTS
    shift_seconds: float = 0.25
    gain_db: float = 6.0
    mix_prob: float = 0.5
    mix_db: tuple[float, float] = (-20.0, -5.0)

    def __post_init__(self):
        unknown = sorted(set(self.names) - set(AUGMENTS))
        check(not unknown, "embed.view_augment.names", f"unknown {unknown}; valid: {list(AUGMENTS)}")
        check(self.shift_seconds >= 0, "embed.view_augment.shift_seconds", "must be >= 0")
        check(self.gain_db >= 0, "embed.view_augment.gain_db", "must be >= 0")
        check(0 <= self.mix_prob <= 1, "embed.view_augment.mix_prob", "must be in [0, 1]")
        check(len(self.mix_db) == 2 and self.mix_db[0] <= self.mix_db[1], "embed.view_augment.mix_db",
              f"must be [low, high] with low <= high, got {list(self.mix_db)}")

    def settings(self) -> dict:
        """JSON-ready settings (part of the store's metadata and fingerprint)."""
        return json.loads(json.dumps(asdict(self)))


def view_seed(corpus_fingerprint: str, augment: ViewAugment) -> int:
    """The root seed of every draw: from the corpus and the augmentation settings only (not the teacher)."""
    text = json.dumps({"corpus": corpus_fingerprint, "augment": augment.settings()}, sort_keys=True)
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def draw_views(lengths: np.ndarray, views: int, window: int, rate: int, augment: ViewAugment,
               seed: int) -> dict[str, np.ndarray]:
    """Parameters of `views` views of every clip, clip by clip: arrays `clip`, `view`, `start`, `partner` (-1: no
    mix), `params` (n, 4: shift, gain_db, partner_start, mix_db). Each (clip, view) has its own generator."""
    n_clips = len(lengths)
    rows = n_clips * views
    out = {"clip": np.repeat(np.arange(n_clips, dtype=np.int64), views),
           "view": np.tile(np.arange(views, dtype=np.int64), n_clips),
           "start": np.zeros(rows, np.int64), "partner": np.full(rows, -1, np.int64),
           "params": np.zeros((rows, len(PARAMS)), np.float64)}
    use = set(augment.names)
    for i, (clip, view) in enumerate(zip(out["clip"], out["view"])):
        rng = np.random.default_rng([seed, int(clip), int(view)])
        draws = rng.random(8)  # a fixed number per view: one setting never shifts another's draws
        if "crop" in use:
            out["start"][i] = int(draws[0] * (max(int(lengths[clip]) - window, 0) + 1))
        if "shift" in use:
            out["params"][i, 0] = round((2 * draws[1] - 1) * augment.shift_seconds * rate)
        if "gain" in use:
            out["params"][i, 1] = (2 * draws[2] - 1) * augment.gain_db
        if "mix" in use and n_clips > 1 and draws[3] < augment.mix_prob:
            partner = int(draws[4] * (n_clips - 1))
            partner += partner >= clip  # never the clip itself
            out["partner"][i] = partner
            out["params"][i, 2] = int(draws[5] * (max(int(lengths[partner]) - window, 0) + 1))
            out["params"][i, 3] = augment.mix_db[0] + draws[6] * (augment.mix_db[1] - augment.mix_db[0])
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def render(segment, clip: int, start: int, window: int, partner: int, params: np.ndarray) -> np.ndarray:
    """The view's `window` samples (float32) from `segment(row, start, n)` (the corpus's reader) and its parameters."""
    x = segment(int(clip), int(start), window).astype(np.float64)
    shift = int(params[0])
    if shift > 0:
        x = np.concatenate([np.zeros(shift), x[:-shift]])
    elif shift < 0:
        x = np.concatenate([x[-shift:], np.zeros(-shift)])
    x = x * 10.0 ** (float(params[1]) / 20.0)
    if partner >= 0:
        other = segment(int(partner), int(params[2]), window).astype(np.float64)
        level, other_level = _rms(x), _rms(other)
        if level > 0 and other_level > 0:
            x = x + other * (level / other_level) * 10.0 ** (float(params[3]) / 20.0)
    return x.astype(np.float32)


class Renderer:
    """Waveform of any store row: a plain window (`window_view` < 0) read as it is, or a view rebuilt from its record.

    `index` holds the store's row arrays: window_clip, window_start and, for stores with views, window_view,
    view_partner and view_params.
    """

    def __init__(self, corpus, index: dict[str, np.ndarray], window: int):
        self.corpus, self.index, self.window = corpus, index, window
        self.has_views = "window_view" in index

    def is_view(self, row: int) -> bool:
        return self.has_views and int(self.index["window_view"][row]) >= 0

    def __call__(self, row: int) -> np.ndarray:
        clip, start = int(self.index["window_clip"][row]), int(self.index["window_start"][row])
        if not self.is_view(row):
            return self.corpus.segment(clip, start, self.window)
        return render(self.corpus.segment, clip, start, self.window, int(self.index["view_partner"][row]),
                      self.index["view_params"][row])
