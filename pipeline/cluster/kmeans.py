"""Out-of-core k-means: MiniBatchKMeans fed block by block from the store, then a streaming predict pass."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from sklearn.cluster import MiniBatchKMeans

from pipeline.cluster.features import Features
from pipeline.cluster.source import ClipSource


@dataclass(frozen=True)
class Assignment:
    """Row-aligned result of the predict pass; excluded rows have cluster -1 and distance NaN."""

    clusters: np.ndarray  # (n_clips,) int64
    distances: np.ndarray  # (n_clips,) float32, Euclidean distance to the own centroid in feature space
    inertia: float  # sum of squared distances over all assigned rows
    unusable: int  # rows marked valid by the store but non-finite (or zero when normalising)


def new_kmeans(k: int, seed: int, batch_size: int, init_rows: int) -> MiniBatchKMeans:
    """The estimator the streaming fit drives (k-means++ on the whole init sample, one init)."""
    return MiniBatchKMeans(n_clusters=k, init="k-means++", init_size=init_rows, n_init=1, batch_size=batch_size,
                           random_state=seed, compute_labels=False)


def epoch_batches(source: ClipSource, features: Features, batch_size: int,
                  rng: np.random.Generator) -> Iterator[np.ndarray]:
    """One pass over the data as feature batches (batch, dim_out): random chunk blocks, rows shuffled inside."""
    for rows, x in source.shuffled_blocks(rng):
        keep = np.flatnonzero(source.valid[rows] & features.usable(x))
        f = features(x[keep[rng.permutation(len(keep))]])  # (kept rows, dim_out), shuffled
        if len(f):
            # near-equal batches of at most batch_size rows, so no block ends in a tiny noisy step
            yield from np.array_split(f, -(-len(f) // batch_size))


def fit_streaming(source: ClipSource, features: Features, init: np.ndarray, k: int, seed: int,
                  batch_size: int, passes: int) -> MiniBatchKMeans:
    """Initialise on the sample `init` (rows, dim_out), then `passes` epochs of partial_fit over the store."""
    km = new_kmeans(k, seed, batch_size, len(init))
    km.partial_fit(init)
    rng = np.random.default_rng([seed, 1])
    for _ in range(passes):
        for batch in epoch_batches(source, features, batch_size, rng):
            km.partial_fit(batch)
    return km


def assign(source: ClipSource, features: Features, km: MiniBatchKMeans) -> Assignment:
    """Nearest centroid and its distance for every row, streamed block by block."""
    clusters = np.full(source.n_rows, -1, dtype=np.int64)
    distances = np.full(source.n_rows, np.nan, dtype=np.float32)
    inertia, unusable = 0.0, 0
    for rows, x in source.blocks():
        ok = features.usable(x)
        keep = source.valid[rows] & ok
        unusable += int((source.valid[rows] & ~ok).sum())
        if not keep.any():
            continue
        d = km.transform(features(x if keep.all() else x[keep]))  # (kept rows, k) distances to every centroid
        nearest = d.argmin(axis=1)
        clusters[rows[keep]] = nearest
        distances[rows[keep]] = d[np.arange(len(d)), nearest]
        inertia += float(np.square(d[np.arange(len(d)), nearest], dtype=np.float64).sum())
    return Assignment(clusters, distances, inertia, unusable)
