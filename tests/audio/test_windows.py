"""Window starts for short, exact and long clips, pad vs drop, against a brute-force reference."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.audio.windows import slice_windows, window_lengths, window_starts


def _reference(length: int, window: int, hop: int, last: str) -> list[int]:
    """Walk the clip hop by hop; the obvious, slow definition."""
    if length <= window:
        return [0]
    starts, s = [], 0
    while True:
        if s + window <= length:
            starts.append(s)
        elif last == "pad" and s < length:
            starts.append(s)
            break
        else:
            break
        if s + window == length:
            break
        s += hop
    return starts


@pytest.mark.parametrize("last", ["pad", "drop"])
def test_matches_reference_on_a_grid(last):
    for length, window, hop in itertools.product(range(0, 40), (1, 4, 7, 10), (1, 3, 7, 10, 15)):
        got = window_starts(length, window, hop, last)
        assert got.dtype == np.int64
        assert got.tolist() == _reference(length, window, hop, last), (length, window, hop, last)


@pytest.mark.parametrize("last", ["pad", "drop"])
def test_short_and_empty_clips_give_one_window(last):
    assert window_starts(0, 100, 50, last).tolist() == [0]
    assert window_starts(30, 100, 50, last).tolist() == [0]
    assert window_starts(100, 100, 50, last).tolist() == [0]


def test_exact_multiple_has_no_padded_tail():
    assert window_starts(400, 100, 100, "pad").tolist() == [0, 100, 200, 300]
    assert window_starts(250, 100, 50, "pad").tolist() == [0, 50, 100, 150]


def test_long_clip_pad_vs_drop():
    assert window_starts(430, 100, 100, "pad").tolist() == [0, 100, 200, 300, 400]
    assert window_starts(430, 100, 100, "drop").tolist() == [0, 100, 200, 300]


def test_pad_covers_every_sample_and_drop_only_full_windows():
    for length in (101, 257, 999):
        pad = window_starts(length, 64, 48, "pad")
        covered = np.zeros(length, dtype=bool)
        for s in pad:
            covered[s: s + 64] = True
        assert covered.all()
        drop = window_starts(length, 64, 48, "drop")
        assert (drop + 64 <= length).all()


def test_hop_longer_than_window_never_yields_an_all_padding_window():
    starts = window_starts(105, 10, 30, "pad")
    assert starts.tolist() == [0, 30, 60, 90]
    assert (window_lengths(105, starts, 10) > 0).all()


def test_slice_windows_content_and_lengths():
    x = np.arange(1, 251, dtype=np.float32)
    starts = window_starts(len(x), 100, 60, "pad")
    frames = slice_windows(x, 100, 60, "pad")
    real = window_lengths(len(x), starts, 100)
    assert frames.shape == (len(starts), 100) and frames.dtype == np.float32
    assert real.tolist() == [100, 100, 100, 70]
    for frame, s, n in zip(frames, starts, real):
        np.testing.assert_array_equal(frame[:n], x[s: s + n])
        assert not frame[n:].any()


@pytest.mark.parametrize("window,hop,last", [(0, 1, "pad"), (10, 0, "pad"), (10, -1, "drop"), (10, 5, "keep")])
def test_invalid_arguments(window, hop, last):
    with pytest.raises(ValueError):
        window_starts(100, window, hop, last)
