"""Balanced sampling weights: exact inverse sizes, uniform at balance 0, and a sampler that sees clusters equally."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from pipeline.cluster.config import ClusterError
from pipeline.cluster.weights import balanced_weights, effective_number, expected_per_cluster

# a chi-square p-value below this rejects "equal cluster frequencies"
P_THRESHOLD = 0.001


def skewed_clusters(seed: int = 0) -> np.ndarray:
    """Cluster ids with sizes 2000, 500, 100, 20, 5 plus 30 excluded rows, shuffled."""
    sizes = [2000, 500, 100, 20, 5]
    ids = np.concatenate([np.full(s, c) for c, s in enumerate(sizes)] + [np.full(30, -1)])
    return np.random.default_rng(seed).permutation(ids)


def test_balance_one_is_inverse_size():
    clusters = skewed_clusters()
    w = balanced_weights(clusters, k=5, balance=1.0)
    sizes = np.bincount(clusters[clusters >= 0], minlength=5)
    ok = clusters >= 0
    np.testing.assert_allclose(w[ok] * sizes[clusters[ok]], 1.0 / 5, rtol=1e-12)
    assert (w[~ok] == 0).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(expected_per_cluster(w, clusters, 1000), 200.0)


def test_balance_zero_is_uniform():
    clusters = skewed_clusters()
    w = balanced_weights(clusters, k=5, balance=0.0)
    ok = clusters >= 0
    np.testing.assert_allclose(w[ok], 1.0 / ok.sum(), rtol=1e-12)
    sizes = np.bincount(clusters[ok], minlength=5)
    np.testing.assert_allclose(expected_per_cluster(w, clusters, ok.sum()), sizes)


def test_floor_and_empty_cluster():
    clusters = skewed_clusters()
    w = balanced_weights(clusters, k=7, balance=1.0, floor=0.2)  # clusters 5 and 6 are empty
    ok = clusters >= 0
    assert w.sum() == pytest.approx(1.0) and w[ok].min() >= 0.2 / ok.sum() - 1e-15
    expected = expected_per_cluster(w, clusters, 100, k=7)
    assert expected[5] == expected[6] == 0 and expected.sum() == pytest.approx(100)
    assert effective_number(expected) < 5


def test_all_excluded_is_an_error():
    with pytest.raises(ClusterError, match="excluded"):
        balanced_weights(np.full(10, -1), k=3, balance=1.0)


def test_weighted_sampler_sees_clusters_equally():
    clusters = skewed_clusters(seed=1)
    w = balanced_weights(clusters, k=5, balance=1.0)
    g = torch.Generator().manual_seed(0)
    draws = torch.multinomial(torch.from_numpy(w), 20000, replacement=True, generator=g).numpy()
    counts = np.bincount(clusters[draws], minlength=5)
    assert (clusters[draws] >= 0).all()
    assert chisquare(counts).pvalue > P_THRESHOLD
    uniform = np.random.default_rng(0).choice(len(w), 20000, p=balanced_weights(clusters, 5, 0.0))
    assert chisquare(np.bincount(clusters[uniform], minlength=5)).pvalue < P_THRESHOLD  # the test can fail
