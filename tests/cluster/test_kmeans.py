"""Streaming k-means over a store: recovers known clusters and equals the in-memory MiniBatchKMeans run."""
from __future__ import annotations

import numpy as np
import pytest
from cluster_synth import blobs, manifest_for
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score

from pipeline.cluster.build import build_index
from pipeline.cluster.config import ClusterConfig, ClusterError
from pipeline.cluster.features import Features, l2_normalize
from pipeline.cluster.kmeans import assign, fit_streaming
from pipeline.cluster.source import ClipSource

SMALL = dict(teacher="synth", batch_size=256, chunk_rows=512, init_size=600, passes=2, metric_sample=400,
             map_sample=200)


@pytest.mark.parametrize("normalize,pca_dim,whiten", [(False, None, False), (True, None, False),
                                                        (True, 8, False), (True, 5, True)])
def test_blobs_recovered(make_store, normalize, pca_dim, whiten):
    x, truth = blobs(3000, 6, 32, seed=1)
    store = make_store(x)
    cfg = ClusterConfig(k=6, normalize=normalize, pca_dim=pca_dim, whiten=whiten, **SMALL)
    result = build_index(store, manifest_for(3000, family=truth), cfg, "corpus-a")
    clusters = result.assignment.clusters
    assert adjusted_rand_score(truth, clusters) > 0.95
    assert result.metrics["nmi_family"] > 0.9 and result.metrics["ari_family"] > 0.95
    assert result.metrics["silhouette"] > 0.3
    assert result.centroids.shape == (6, pca_dim or 32)
    assert np.isclose(result.weights.sum(), 1.0)


def _reference_fit(f: np.ndarray, ok: np.ndarray, init: np.ndarray, chunk: int, block_chunks: int, k: int,
                   seed: int, batch: int, passes: int) -> MiniBatchKMeans:
    """The documented batch order, replayed on in-memory features (n, dim)."""
    km = MiniBatchKMeans(n_clusters=k, init="k-means++", init_size=len(init), n_init=1, batch_size=batch,
                         random_state=seed, compute_labels=False).partial_fit(init)
    rng = np.random.default_rng([seed, 1])
    n = len(f)
    n_chunks = -(-n // chunk)
    for _ in range(passes):
        order = rng.permutation(n_chunks)
        for i in range(0, n_chunks, block_chunks):
            block = np.sort(order[i:i + block_chunks])
            rows = np.concatenate([np.arange(c * chunk, min((c + 1) * chunk, n)) for c in block])
            rows = rows[ok[rows]]
            rows = rows[rng.permutation(len(rows))]
            for part in np.array_split(rows, -(-len(rows) // batch)) if len(rows) else []:
                km.partial_fit(f[part])
    return km


def test_streaming_equals_in_memory(make_store):
    x, _ = blobs(2000, 5, 16, seed=2, spread=0.6)
    valid = np.ones(2000, dtype=bool)
    valid[::97] = False
    x[5:2000:131] = np.nan  # valid in the store but unusable
    store = make_store(x, valid=valid, chunk_rows=128)
    source = ClipSource(store, block_rows=300)  # 3 chunks of 128 rows per block
    assert source.block_chunks == 3
    full = np.asarray(store.array("clip")[:], dtype=np.float32)
    ok = source.valid & np.isfinite(full).all(axis=1)
    f = np.zeros_like(full)
    f[ok] = l2_normalize(full[ok])
    init = f[np.flatnonzero(ok)[::5]]
    feats = Features(normalize=True)
    streamed = fit_streaming(source, feats, init, k=5, seed=3, batch_size=100, passes=2)
    reference = _reference_fit(f, ok, init, 128, 3, k=5, seed=3, batch=100, passes=2)
    np.testing.assert_allclose(streamed.cluster_centers_, reference.cluster_centers_, atol=1e-5)
    result = assign(source, feats, streamed)
    np.testing.assert_array_equal(result.clusters[ok], reference.predict(f[ok]))
    assert (result.clusters[~ok] == -1).all() and np.isnan(result.distances[~ok]).all()
    assert result.unusable == int((source.valid & ~ok).sum()) > 0
    assert result.inertia == pytest.approx(-reference.score(f[ok]), rel=1e-4)


def test_source_reads_match_array(make_store):
    x = np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float32)
    store = make_store(x, chunk_rows=64)
    source = ClipSource(store, block_rows=100)
    full = np.asarray(store.array("clip")[:], dtype=np.float32)
    rows = np.random.default_rng(1).choice(1000, 300, replace=False)
    np.testing.assert_array_equal(source.read_rows(rows), full[rows])
    seen = np.concatenate([r for r, _ in source.shuffled_blocks(np.random.default_rng(2))])
    assert np.array_equal(np.sort(seen), np.arange(1000)) and not np.array_equal(seen, np.arange(1000))
    for r, block in source.blocks():
        np.testing.assert_array_equal(block, full[r])


def test_k_larger_than_valid_rows(make_store):
    x, _ = blobs(40, 2, 8)
    valid = np.zeros(40, dtype=bool)
    valid[:7] = True
    store = make_store(x, valid=valid)
    cfg = ClusterConfig(k=8, **dict(SMALL, init_size=40, metric_sample=0, map_sample=10))
    with pytest.raises(ClusterError, match="larger than the number of valid clips"):
        build_index(store, manifest_for(40), cfg)


def test_all_nan_rows_error(make_store):
    x = np.full((50, 8), np.nan, dtype=np.float32)
    store = make_store(x)
    cfg = ClusterConfig(k=3, **dict(SMALL, init_size=50, metric_sample=0, map_sample=10))
    with pytest.raises(ClusterError, match="finite"):
        build_index(store, manifest_for(50), cfg)


def test_nan_rows_excluded_and_reported(make_store):
    x, truth = blobs(1200, 4, 16, seed=4)
    x[::10] = np.nan
    store = make_store(x)
    cfg = ClusterConfig(k=4, **SMALL)
    result = build_index(store, manifest_for(1200), cfg)
    bad = np.zeros(1200, dtype=bool)
    bad[::10] = True
    assert (result.assignment.clusters[bad] == -1).all() and (result.weights[bad] == 0).all()
    assert result.metrics["rows_unusable"] == result.metrics["rows_excluded"] == bad.sum()
    assert adjusted_rand_score(truth[~bad], result.assignment.clusters[~bad]) > 0.95
