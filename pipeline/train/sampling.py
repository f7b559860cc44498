"""Epoch draws: which rows to train on, drawn with replacement from the balanced (or uniform) weights."""
from __future__ import annotations

import numpy as np


def uniform_weights(valid: np.ndarray) -> np.ndarray:
    """Equal weight on every usable row."""
    w = valid.astype(np.float64)
    return w / w.sum()


def epoch_draws(weights: np.ndarray, epoch_size: int, seed: int, epoch: int) -> np.ndarray:
    """The global draw for one epoch: `epoch_size` rows with replacement, fixed by (seed, epoch)."""
    if weights.sum() <= 0:
        raise ValueError("sampling weights are all zero: no row can be drawn")
    rng = np.random.default_rng([seed, epoch])
    p = weights / weights.sum()
    return rng.choice(len(weights), size=epoch_size, replace=True, p=p).astype(np.int64)


def rank_slice(draws: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's disjoint share of the global draw (equal lengths; the tail that does not divide is dropped)."""
    n = len(draws) // world * world
    return draws[rank:n:world]


def window_rows(clip_rows: np.ndarray, window_clip: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """For each drawn clip, one of its windows uniformly at random (exact window-level targets)."""
    first = np.searchsorted(window_clip, clip_rows, side="left")
    count = np.searchsorted(window_clip, clip_rows, side="right") - first
    if (count == 0).any():
        raise ValueError(f"clip rows {np.unique(clip_rows[count == 0])[:5].tolist()} have no usable window")
    rng = np.random.default_rng([seed, epoch, 1])
    return first + (rng.random(len(clip_rows)) * count).astype(np.int64)


def block_order(draws: np.ndarray, chunk_rows: int, block_chunks: int, rng: np.random.Generator) -> np.ndarray:
    """Reorder an epoch's draws so each block of `block_chunks` chunks is visited once, shuffled within.

    The multiset of draws (hence the sampling distribution) is unchanged; only the order is.
    """
    if chunk_rows <= 0:
        return draws
    chunks = draws // chunk_rows
    order = rng.permutation(np.unique(chunks))
    blocks = [order[i: i + block_chunks] for i in range(0, len(order), block_chunks)]
    out = []
    for block in blocks:
        picked = draws[np.isin(chunks, block)]
        out.append(picked[rng.permutation(len(picked))])
    return np.concatenate(out) if out else draws
