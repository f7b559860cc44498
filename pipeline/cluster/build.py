"""Balanced Data Sampling end to end: stream k-means over a store, weight rows, measure, write the index."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from pipeline import __version__
from pipeline.cluster import metrics as cm
from pipeline.cluster.config import ClusterConfig, ClusterError
from pipeline.cluster.features import Features
from pipeline.cluster.index import write_index
from pipeline.cluster.kmeans import Assignment, assign, fit_streaming
from pipeline.cluster.plots import plot_map, plot_sizes, sizes_table
from pipeline.cluster.source import ClipSource, open_clips, sample_rows
from pipeline.cluster.weights import balanced_weights, cluster_sizes, expected_per_cluster
from pipeline.config import to_dict
from pipeline.store import EmbeddingStore, StoreError


@dataclass(frozen=True)
class ClusterResult:
    """Everything `save_outputs` writes; arrays are aligned to corpus rows unless named sample_*."""

    assignment: Assignment
    weights: np.ndarray  # (n_clips,) float64, sums to 1
    centroids: np.ndarray  # (k, feature dim) in feature space (after normalisation / PCA)
    metrics: dict
    meta: dict
    sample_rows: np.ndarray  # (m,) corpus rows of the map sample
    sample_features: np.ndarray  # (m, feature dim)


def open_source(stores: Sequence[EmbeddingStore], n_manifest: int, cfg: ClusterConfig,
                corpus_fingerprint: str | None = None) -> ClipSource:
    """Check stores and corpus agree and that there are at least k valid clips; then open the block reader."""
    for store in stores:
        try:
            store.require_complete(corpus_fingerprint)
        except StoreError as exc:
            raise ClusterError(str(exc)) from exc
        if store.layout.n_clips != n_manifest:
            raise ClusterError(f"store {store.url} has {store.layout.n_clips} clips but the manifest has "
                               f"{n_manifest} rows; they come from different corpora")
    source = open_clips(stores, cfg.chunk_rows)
    n_valid = int(source.valid.sum())
    if n_valid < cfg.k:
        raise ClusterError(f"k={cfg.k} is larger than the number of valid clips ({n_valid} of {source.n_rows}); "
                           f"lower cluster.k")
    return source


def draw_sample(source: ClipSource, cfg: ClusterConfig) -> tuple[np.ndarray, np.ndarray]:
    """One seeded sample of usable rows, in random order: rows (m,) and raw embeddings (m, dim)."""
    rng = np.random.default_rng([cfg.seed, 0])
    rows = sample_rows(source.valid, max(cfg.init_size, cfg.metric_sample, cfg.map_sample), rng)
    raw = source.read_rows(rows)
    ok = Features(cfg.normalize).usable(raw)
    if ok.sum() < max(cfg.k, cfg.pca_dim or 0):
        raise ClusterError(f"only {int(ok.sum())} of {len(rows)} sampled valid clips have finite, non-zero "
                           f"embeddings; need at least k={cfg.k} (and pca_dim) to initialise")
    return rows[ok], raw[ok]


def build_index(stores: EmbeddingStore | Sequence[EmbeddingStore], manifest: pd.DataFrame, cfg: ClusterConfig,
                corpus_fingerprint: str | None = None) -> ClusterResult:
    """Fit streaming k-means on the store's clip embeddings (several stores: their joint space, see
    `JointClipSource`) and derive balanced sampling weights."""
    stores = [stores] if isinstance(stores, EmbeddingStore) else list(stores)
    store = stores[0]
    source = open_source(stores, len(manifest), cfg, corpus_fingerprint)
    rows, raw = draw_sample(source, cfg)
    features = Features.fit(raw[:cfg.init_size], cfg.normalize, cfg.pca_dim, cfg.whiten, cfg.batch_size)
    sample = features(raw)  # (m, feature dim)
    del raw
    km = fit_streaming(source, features, sample[:cfg.init_size], cfg.k, cfg.seed, cfg.batch_size, cfg.passes)
    result = assign(source, features, km)
    weights = balanced_weights(result.clusters, cfg.k, cfg.balance, cfg.min_weight_floor)
    metrics = measure(result, weights, sample[:cfg.metric_sample], rows[:cfg.metric_sample], manifest, cfg)
    meta = {"store_fingerprint": store.fingerprint, "corpus_fingerprint": store.attrs.get("corpus_fingerprint"),
            "teacher": store.attrs.get("teacher"), "k": cfg.k, "balance": cfg.balance,
            "min_weight_floor": cfg.min_weight_floor, "feature_dim": int(km.cluster_centers_.shape[1]),
            "config": to_dict(cfg), "package_version": __version__}
    if len(stores) > 1:  # `load_index` checks every store it was built from
        meta.update({"store_fingerprints": [s.fingerprint for s in stores],
                     "teachers": [s.attrs.get("teacher") for s in stores]})
    else:  # a one-store index keeps its exact metadata
        del meta["config"]["joint_teachers"]
    m = min(cfg.map_sample, len(rows))
    return ClusterResult(result, weights, km.cluster_centers_.astype(np.float32), metrics, meta, rows[:m], sample[:m])


def measure(result: Assignment, weights: np.ndarray, sample: np.ndarray, sample_rows: np.ndarray,
            manifest: pd.DataFrame, cfg: ClusterConfig) -> dict:
    """All metrics of one clustering as a flat dict."""
    used = int((result.clusters >= 0).sum())
    sizes = cluster_sizes(result.clusters, cfg.k)
    out = {"k": cfg.k, "balance": cfg.balance, "rows": len(result.clusters), "rows_used": used,
           "rows_excluded": len(result.clusters) - used, "rows_unusable": result.unusable,
           "inertia": result.inertia, "inertia_per_row": result.inertia / used}
    out.update(cm.size_metrics(sizes, expected_per_cluster(weights, result.clusters, used, cfg.k)))
    if cfg.metric_sample:
        out.update(cm.sample_metrics(sample, result.clusters[sample_rows], cfg.seed))
    out.update(cm.label_metrics(manifest, result.clusters))
    return out


def save_outputs(result: ClusterResult, manifest: pd.DataFrame, folder: str | Path) -> Path:
    """Write every output into a temp folder, then swap it in for `folder` (a crash never leaves a mix)."""
    folder = Path(folder)
    partial, old = folder.with_name(f".{folder.name}.partial"), folder.with_name(f".{folder.name}.old")
    for leftover in (partial, old):  # from a run killed before its swap
        shutil.rmtree(leftover, ignore_errors=True)
    write_outputs(result, manifest, partial)
    if folder.exists():
        folder.rename(old)
    partial.rename(folder)  # killed between the renames: no folder, so `load_index` refuses, never half-reads
    shutil.rmtree(old, ignore_errors=True)
    return folder


def write_outputs(result: ClusterResult, manifest: pd.DataFrame, folder: Path) -> None:
    """Write index.parquet, meta.json, centroids.npy, metrics.json, sizes.csv/png and map.png into `folder`."""
    a = result.assignment
    write_index(folder, manifest["clip_id"], a.clusters, a.distances, result.weights, result.meta)
    np.save(folder / "centroids.npy", result.centroids)
    (folder / "metrics.json").write_text(json.dumps(result.metrics, indent=2, sort_keys=True) + "\n")
    k = len(result.centroids)
    used = int((a.clusters >= 0).sum())
    table = sizes_table(cluster_sizes(a.clusters, k), expected_per_cluster(result.weights, a.clusters, used, k))
    table.to_csv(folder / "sizes.csv", index=False)
    plot_sizes(table, folder / "sizes.png")
    columns = cm.label_columns(manifest)
    label = None
    if columns:
        values = manifest[columns[0]].astype(str).str.strip().replace("", "(none)")
        label = (columns[0], values.to_numpy()[result.sample_rows])
    plot_map(result.sample_features, a.clusters[result.sample_rows], folder / "map.png", label)


def summary(result: ClusterResult) -> str:
    """One line for the stage to print."""
    m = result.metrics
    sil = "n/a" if m.get("silhouette") is None else f"{m['silhouette']:.3f}"
    return (f"k={m['k']}: {m['rows_used']}/{m['rows']} clips clustered ({m['rows_excluded']} excluded), sizes "
            f"{m['size_min']}..{m['size_max']}, silhouette {sil}, effective clusters {m['effective_clusters']:.1f} "
            f"-> {m['effective_clusters_balanced']:.1f} balanced")
