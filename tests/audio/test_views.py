"""View draws and rendering: what each augmentation does, and that draws are reproducible."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.audio.views import ViewAugment, draw_views, render, view_seed
from pipeline.config import ConfigError

RATE, WINDOW = 1000, 400
CLIPS = [np.sin(np.arange(n) * 0.1 * (i + 1)).astype(np.float32) for i, n in enumerate([300, 900, 1500, 400])]


def segment(row: int, start: int, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    piece = CLIPS[row][start: start + n]
    out[: len(piece)] = piece
    return out


LENGTHS = np.array([len(c) for c in CLIPS])


def test_draws_are_reproducible_per_clip_and_view_whatever_k():
    few = draw_views(LENGTHS, 2, WINDOW, RATE, ViewAugment(), seed=7)
    many = draw_views(LENGTHS, 5, WINDOW, RATE, ViewAugment(), seed=7)
    first = many["view"] < 2
    for name in ("clip", "view", "start", "partner", "params"):
        np.testing.assert_array_equal(few[name], many[name][first])
    other = draw_views(LENGTHS, 2, WINDOW, RATE, ViewAugment(), seed=8)
    assert not np.array_equal(few["params"], other["params"])


def test_draws_stay_inside_their_ranges():
    aug = ViewAugment(mix_prob=1.0)
    d = draw_views(LENGTHS, 50, WINDOW, RATE, aug, seed=0)
    assert (d["start"] >= 0).all() and (d["start"] <= np.maximum(LENGTHS[d["clip"]] - WINDOW, 0)).all()
    assert (d["start"][d["clip"] == 0] == 0).all()  # a clip shorter than the window starts at 0
    assert (np.abs(d["params"][:, 0]) <= aug.shift_seconds * RATE).all()
    assert (np.abs(d["params"][:, 1]) <= aug.gain_db).all()
    assert (d["partner"] >= 0).all() and (d["partner"] != d["clip"]).all()
    assert (d["params"][:, 3] >= -20).all() and (d["params"][:, 3] <= -5).all()


def test_switched_off_augmentations_leave_the_window_as_it_is():
    d = draw_views(LENGTHS, 3, WINDOW, RATE, ViewAugment(names=("crop",)), seed=0)
    assert (d["params"] == 0).all() and (d["partner"] == -1).all()
    for clip, start in zip(d["clip"], d["start"]):
        out = render(segment, clip, start, WINDOW, -1, np.zeros(4))
        np.testing.assert_array_equal(out, segment(clip, start, WINDOW))


def test_gain_shift_and_mix_do_what_they_say():
    base = segment(2, 100, WINDOW).astype(np.float64)
    loud = render(segment, 2, 100, WINDOW, -1, np.array([0, 6.0, 0, 0]))
    np.testing.assert_allclose(loud, base * 10 ** (6 / 20), rtol=1e-6)
    late = render(segment, 2, 100, WINDOW, -1, np.array([25, 0, 0, 0]))
    np.testing.assert_array_equal(late[:25], 0)
    np.testing.assert_allclose(late[25:], base[:-25], rtol=1e-6)
    early = render(segment, 2, 100, WINDOW, -1, np.array([-25, 0, 0, 0]))
    np.testing.assert_allclose(early[:-25], base[25:], rtol=1e-6)
    mixed = render(segment, 2, 100, WINDOW, 1, np.array([0, 0, 300, -10.0]))
    added = mixed.astype(np.float64) - base
    ratio = np.sqrt(np.mean(added ** 2)) / np.sqrt(np.mean(base ** 2))
    assert 20 * np.log10(ratio) == pytest.approx(-10.0, abs=1e-4)


def test_seed_follows_corpus_and_settings():
    assert view_seed("a", ViewAugment()) == view_seed("a", ViewAugment())
    assert view_seed("a", ViewAugment()) != view_seed("b", ViewAugment())
    assert view_seed("a", ViewAugment()) != view_seed("a", ViewAugment(gain_db=3.0))


@pytest.mark.parametrize("bad", [{"names": ("echo",)}, {"gain_db": -1.0}, {"mix_prob": 2.0}, {"mix_db": (0.0, -5.0)}])
def test_bad_settings_name_their_key(bad):
    with pytest.raises(ConfigError, match="embed.view_augment"):
        ViewAugment(**bad)
