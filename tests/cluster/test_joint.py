"""Joint clustering (cluster.joint_teachers): the concatenation of per-teacher L2-normalised clip embeddings."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from cluster_synth import blobs, manifest_for

from pipeline.cluster.build import build_index, save_outputs
from pipeline.cluster.config import ClusterConfig, ClusterError
from pipeline.cluster.index import load_index, read_meta
from pipeline.config import ConfigError

CFG = ClusterConfig(teacher="a", joint_teachers=("b",), k=4, batch_size=128, chunk_rows=256, init_size=400,
                    passes=2, metric_sample=0, map_sample=50)


@pytest.fixture
def two(make_store):
    """Teacher a separates 2 groups, teacher b (other width, 100x the scale) 2 other, independent groups."""
    xa, ta = blobs(800, 2, 8, seed=1)
    xb, tb = blobs(800, 2, 5, seed=2)
    return make_store(xa, teacher="a"), make_store(100 * xb, teacher="b", chunk_rows=128), ta * 2 + tb


def test_joint_clusters_draw_on_both_teachers_spaces(two, tmp_path):
    a, b, truth = two
    result = build_index([a, b], manifest_for(800), CFG)
    clusters = result.assignment.clusters
    # 4 clusters = the 4 (a group, b group) pairs: rare regions of either space get their own cluster
    majority = [np.bincount(clusters[truth == t], minlength=4) for t in range(4)]
    assert len({int(m.argmax()) for m in majority}) == 4
    assert all(m.max() >= 0.95 * m.sum() for m in majority)
    assert result.meta["feature_dim"] == 13 and result.meta["teachers"] == ["a", "b"]
    alone = build_index(a, manifest_for(800), dataclasses.replace(CFG, joint_teachers=()))
    assert len(np.unique(truth[alone.assignment.clusters == alone.assignment.clusters[0]])) > 1  # a alone cannot
    assert "joint_teachers" not in alone.meta["config"]  # a one-store index keeps its metadata exactly


def test_the_index_records_every_store_and_refuses_others(two, make_store, tmp_path):
    a, b, _ = two
    folder = save_outputs(build_index([a, b], manifest_for(800), CFG), manifest_for(800), tmp_path / "ab")
    assert read_meta(folder)["store_fingerprints"] == [a.fingerprint, b.fingerprint]
    weights, _ = load_index(folder, [a.fingerprint, b.fingerprint])
    assert weights.sum() == pytest.approx(1.0)
    load_index(folder, [b.fingerprint, a.fingerprint, "third"])  # a run reading more stores may use it
    other = make_store(np.ones((800, 5), np.float32), teacher="c")
    for current in ([a.fingerprint], [a.fingerprint, other.fingerprint]):
        with pytest.raises(ClusterError, match="built from store"):
            load_index(folder, current)


def test_joint_rows_are_valid_only_where_every_store_is(make_store):
    xa, _ = blobs(400, 2, 8, seed=1)
    xb, _ = blobs(400, 2, 5, seed=2)
    xb[:10] = 0.0  # zero rows of b cannot be normalised: those clips are left out, not clustered on a alone
    valid = np.ones(400, bool)
    valid[10:20] = False
    result = build_index([make_store(xa, valid=valid, teacher="a"), make_store(xb, teacher="b")],
                         manifest_for(400), dataclasses.replace(CFG, init_size=200, k=2))
    assert (result.assignment.clusters[:20] == -1).all() and (result.assignment.clusters[20:] >= 0).all()


def test_joint_teachers_are_validated():
    with pytest.raises(ConfigError, match="cluster.joint_teachers"):
        ClusterConfig(teacher="a", joint_teachers=("a",))
    assert ClusterConfig(teacher="a", joint_teachers=("b", "c")).teachers == ["a", "b", "c"]
