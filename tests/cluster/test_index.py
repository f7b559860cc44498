"""The sampling index round-trips and refuses stores, corpora or row counts it was not built for."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cluster_synth import blobs, manifest_for

from pipeline.cluster.build import build_index, save_outputs
from pipeline.cluster.config import ClusterConfig, ClusterError
from pipeline.cluster.index import load_index, read_meta
from pipeline.cluster.metrics import label_columns
from pipeline.config import ConfigError, parse
from pipeline.store import EmbeddingStore, StoreLayout

CFG = ClusterConfig(teacher="synth", k=3, batch_size=128, chunk_rows=256, init_size=300, passes=1,
                    metric_sample=200, map_sample=100)


@pytest.fixture
def built(make_store, tmp_path):
    """A 3-blob store, its saved outputs folder and the in-memory result."""
    x, truth = blobs(900, 3, 12, seed=5)
    store = make_store(x)
    manifest = manifest_for(900, family=np.array(["a", "b", "c"])[truth], ytid=np.arange(900))
    result = build_index(store, manifest, CFG, "corpus-a")
    return store, save_outputs(result, manifest, tmp_path / "out"), result


def test_outputs_round_trip(built):
    store, folder, result = built
    weights, clusters = load_index(folder, store.fingerprint, n_rows=900)
    np.testing.assert_allclose(weights, result.weights)
    np.testing.assert_array_equal(clusters, result.assignment.clusters)
    assert weights.dtype == np.float64 and clusters.dtype == np.int64
    index = pd.read_parquet(folder / "index.parquet")
    assert list(index.columns) == ["clip_id", "cluster", "distance", "weight"] and index["clip_id"][3] == "c000003"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta == read_meta(folder) and meta["corpus_fingerprint"] == "corpus-a" and meta["k"] == 3
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["nmi_family"] > 0.9 and "nmi_ytid" not in metrics
    assert np.load(folder / "centroids.npy").shape == (3, 12)
    sizes = pd.read_csv(folder / "sizes.csv")
    assert sizes["size"].sum() == 900 and sizes["expected_balanced"].to_numpy() == pytest.approx(300.0)
    assert (folder / "sizes.png").stat().st_size > 1000 and (folder / "map.png").stat().st_size > 1000


def test_index_refuses_other_store_or_row_count(built):
    store, folder, _ = built
    with pytest.raises(ClusterError, match="built from store"):
        load_index(folder, "0123456789abcdef")
    with pytest.raises(ClusterError, match="rows"):
        load_index(folder / "index.parquet", store.fingerprint, n_rows=901)
    with pytest.raises(ClusterError, match="no cluster index"):
        load_index(folder / "missing", store.fingerprint)


def test_index_refuses_truncated_table(built):
    store, folder, _ = built
    table = pd.read_parquet(folder / "index.parquet")
    schema_meta = pq.read_schema(folder / "index.parquet").metadata
    cut = pa.Table.from_pandas(table.iloc[:800], preserve_index=False).replace_schema_metadata(schema_meta)
    pq.write_table(cut, folder / "index.parquet")
    with pytest.raises(ClusterError, match="800 rows"):
        load_index(folder, store.fingerprint)


def test_build_refuses_mismatched_or_incomplete_store(make_store, tmp_path):
    x, _ = blobs(300, 3, 8)
    store = make_store(x)
    with pytest.raises(ClusterError, match="built from corpus"):
        build_index(store, manifest_for(300), CFG, corpus_fingerprint="corpus-b")
    with pytest.raises(ClusterError, match="300 clips but the manifest has 299"):
        build_index(store, manifest_for(299), CFG)
    layout = StoreLayout(n_clips=300, n_windows=300, dim=8, chunk_rows=64, shard_rows=128)
    idx = {"window_clip": np.arange(300), "window_start": np.zeros(300), "window_length": np.ones(300)}
    partial = EmbeddingStore.create(str(tmp_path / "partial"), layout, dict(store.attrs, complete=False), idx)
    with pytest.raises(ClusterError, match="incomplete"):
        build_index(partial, manifest_for(300), CFG)


def test_config_validation():
    with pytest.raises(ConfigError, match="cluster.k"):
        parse(ClusterConfig, {"k": 1}, "cluster")
    with pytest.raises(ConfigError, match="init_size"):
        parse(ClusterConfig, {"k": 60, "init_size": 50}, "cluster")
    with pytest.raises(ConfigError, match="balance"):
        parse(ClusterConfig, {"balance": 1.5}, "cluster")
    with pytest.raises(ConfigError, match="whiten"):
        parse(ClusterConfig, {"whiten": True}, "cluster")
    with pytest.raises(ConfigError, match="unknown key"):
        parse(ClusterConfig, {"clusters": 5}, "cluster")
    with pytest.raises(ConfigError, match="sweep"):
        parse(ClusterConfig, {"sweep": [30, 1]}, "cluster")
    cfg = parse(ClusterConfig, {"pca_dim": 64, "k": 30, "sweep": [40, 60]}, "cluster")
    assert cfg.pca_dim == 64 and cfg.sweep == (40, 60)


def test_label_columns():
    df = manifest_for(10, family=["x", "y"] * 5, word=[""] * 10, ytid=range(10), pitch_class=[1, 2, ""] * 3 + [1])
    assert label_columns(df) == ["family", "pitch_class"]
