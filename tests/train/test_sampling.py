"""Epoch plans: weighted draws with replacement, rank shares, window picks and chunk-block ordering."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from pipeline.train.sampling import block_order, epoch_draws, rank_slice, uniform_weights, window_rows

WEIGHTS = np.array([0.0, 1.0, 2.0, 3.0, 0.5, 0.0, 4.0, 1.5])


def _counts(draws: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(draws, minlength=n)


def test_epoch_draws_follow_the_weights():
    draws = epoch_draws(WEIGHTS, 40_000, seed=3, epoch=0)
    counts = _counts(draws, len(WEIGHTS))
    assert counts[WEIGHTS == 0].sum() == 0  # validation / invalid rows are never drawn
    live = WEIGHTS > 0
    expected = WEIGHTS[live] / WEIGHTS.sum() * len(draws)
    assert chisquare(counts[live], expected).pvalue > 1e-3
    flat = np.full(live.sum(), len(draws) / live.sum())
    assert chisquare(counts[live], flat).pvalue < 1e-12  # the same test rejects the wrong distribution


def test_epoch_draws_are_seeded_and_vary_by_epoch():
    a = epoch_draws(WEIGHTS, 500, seed=1, epoch=2)
    assert np.array_equal(a, epoch_draws(WEIGHTS, 500, seed=1, epoch=2))
    assert not np.array_equal(a, epoch_draws(WEIGHTS, 500, seed=1, epoch=3))
    assert not np.array_equal(a, epoch_draws(WEIGHTS, 500, seed=2, epoch=2))
    assert a.dtype == np.int64


def test_epoch_draws_refuse_all_zero_weights():
    with pytest.raises(ValueError, match="all zero"):
        epoch_draws(np.zeros(4), 10, 0, 0)


def test_uniform_weights_cover_valid_rows_only():
    w = uniform_weights(np.array([True, False, True, True]))
    assert np.allclose(w, [1 / 3, 0, 1 / 3, 1 / 3])


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_rank_slices_are_disjoint_equal_and_cover_the_draw(world):
    draws = np.arange(103) * 7  # distinct values stand for positions in the global draw
    parts = [rank_slice(draws, r, world) for r in range(world)]
    assert len({len(p) for p in parts}) == 1
    merged = np.concatenate(parts)
    assert len(set(merged.tolist())) == len(merged)  # disjoint
    assert set(merged.tolist()) == set(draws[: len(draws) // world * world].tolist())  # covering


def test_window_rows_pick_windows_of_the_drawn_clip_uniformly():
    counts = np.array([1, 3, 2, 5])  # windows per clip
    window_clip = np.repeat(np.arange(4), counts)
    clips = np.repeat(np.arange(4), 4000)
    rows = window_rows(clips, window_clip, seed=0, epoch=1)
    assert np.array_equal(window_clip[rows], clips)
    picks = _counts(rows[clips == 3], len(window_clip))[window_clip == 3]
    assert chisquare(picks).pvalue > 1e-3  # every window of clip 3 equally likely
    assert np.array_equal(rows, window_rows(clips, window_clip, seed=0, epoch=1))


def test_block_order_keeps_the_multiset_and_groups_chunks():
    rng = np.random.default_rng(0)
    draws = rng.integers(0, 200, size=1000)
    out = block_order(draws, chunk_rows=10, block_chunks=3, rng=np.random.default_rng(1))
    assert np.array_equal(np.sort(out), np.sort(draws))
    chunks = out // 10
    for c in np.unique(chunks):
        pos = np.flatnonzero(chunks == c)
        span = chunks[pos[0]: pos[-1] + 1]
        assert len(np.unique(span)) <= 3  # a chunk is used within one block of <= 3 chunks, then never again
    assert not np.array_equal(out, np.sort(out))


def test_block_order_is_identity_for_in_memory_targets():
    draws = np.array([5, 1, 9, 1])
    assert np.array_equal(block_order(draws, 0, 8, np.random.default_rng(0)), draws)


def test_window_rows_refuse_a_clip_without_windows():
    with pytest.raises(ValueError, match="no usable window"):
        window_rows(np.array([0, 2]), np.array([0, 0, 1]), seed=0, epoch=0)
