"""Balanced Data Sampling weights: draw rows of small clusters more often, so every cluster is seen.

weight_i = 1 / size(cluster_i) ** balance, normalised to sum 1. balance=0 is uniform over usable rows,
balance=1 gives every non-empty cluster the same total mass. Excluded rows (cluster -1) weigh 0.
An empty cluster owns no rows, so it gets no mass and the non-empty ones share it; no size is ever
divided by zero. `min_weight_floor` f mixes the balanced weights with uniform ones,
w = (1 - f) * w_balanced + f / n_usable, so every usable row keeps at least f times its uniform chance
(big clusters are never starved).
"""
from __future__ import annotations

import numpy as np

from pipeline.cluster.config import ClusterError


def cluster_sizes(clusters: np.ndarray, k: int) -> np.ndarray:
    """Rows per cluster (k,), ignoring excluded rows (-1)."""
    return np.bincount(clusters[clusters >= 0], minlength=k)


def balanced_weights(clusters: np.ndarray, k: int, balance: float, floor: float = 0.0) -> np.ndarray:
    """Per-row sampling weights (n_rows,) float64 summing to 1; rows with cluster -1 get 0."""
    ok = clusters >= 0
    if not ok.any():
        raise ClusterError("no row has a cluster: every row was excluded, nothing can be sampled")
    sizes = cluster_sizes(clusters, k).astype(np.float64)
    w = np.zeros(len(clusters), dtype=np.float64)
    w[ok] = sizes[clusters[ok]] ** -balance  # sizes of assigned rows' clusters are >= 1
    w /= w.sum()
    if floor > 0:
        w[ok] = (1.0 - floor) * w[ok] + floor / ok.sum()
    return w


def expected_per_cluster(weights: np.ndarray, clusters: np.ndarray, n_draws: int, k: int | None = None) -> np.ndarray:
    """Expected draws per cluster (k,) when `n_draws` rows are drawn with replacement by `weights`."""
    k = int(clusters.max()) + 1 if k is None else k
    ok = clusters >= 0
    mass = np.bincount(clusters[ok], weights=weights[ok], minlength=k)
    return n_draws * mass / weights.sum()


def effective_number(counts: np.ndarray) -> float:
    """exp(entropy) of a count vector: how many equally used clusters it is worth."""
    p = np.asarray(counts, dtype=np.float64)
    p = p[p > 0] / p.sum()
    return float(np.exp(-(p * np.log(p)).sum()))
