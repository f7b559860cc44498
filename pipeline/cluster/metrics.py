"""Cluster quality numbers (flat keys for `dvc metrics show`)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from pipeline.cluster.weights import effective_number

# manifest columns that are never labels
NOT_LABELS = ("clip_id", "path", "split", "duration")


def label_columns(manifest: pd.DataFrame) -> list[str]:
    """String columns that look like class labels: some non-empty values, 2+ classes, not an identifier."""
    out = []
    for col in manifest.columns:
        if col in NOT_LABELS or not (pd.api.types.is_object_dtype(manifest[col])
                                     or pd.api.types.is_string_dtype(manifest[col])):
            continue
        values = manifest[col].astype(str).str.strip()
        values = values[values != ""]
        # one class says nothing; a class per row is an id (ytid, start time), not a label
        if len(values) and 2 <= values.nunique() <= len(values) // 2:
            out.append(col)
    return out


def size_metrics(sizes: np.ndarray, expected: np.ndarray) -> dict:
    """Cluster-size spread before balancing and the effective number of clusters after it."""
    k = len(sizes)
    p = sizes[sizes > 0] / sizes.sum()
    entropy = float(-(p * np.log2(p)).sum())
    return {"size_min": int(sizes.min()), "size_median": float(np.median(sizes)), "size_max": int(sizes.max()),
            "clusters_empty": int((sizes == 0).sum()), "size_entropy_bits": entropy,
            "size_entropy_ratio": entropy / np.log2(k), "effective_clusters": effective_number(sizes),
            "effective_clusters_balanced": effective_number(expected)}


def sample_metrics(features: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    """Silhouette, Calinski-Harabasz and Davies-Bouldin on a sample (None when undefined: < 2 clusters)."""
    n_labels = len(np.unique(labels))
    if not 2 <= n_labels < len(labels):
        return {"silhouette": None, "calinski_harabasz": None, "davies_bouldin": None}
    return {"silhouette": float(skm.silhouette_score(features, labels, random_state=seed)),
            "calinski_harabasz": float(skm.calinski_harabasz_score(features, labels)),
            "davies_bouldin": float(skm.davies_bouldin_score(features, labels))}


def label_metrics(manifest: pd.DataFrame, clusters: np.ndarray) -> dict:
    """NMI and ARI of the clusters against each label column, on rows with a label and a cluster."""
    out = {}
    for col in label_columns(manifest):
        values = manifest[col].astype(str).str.strip().to_numpy()
        ok = (values != "") & (clusters >= 0)
        if ok.sum() < 2:
            continue
        out[f"nmi_{col}"] = float(skm.normalized_mutual_info_score(values[ok], clusters[ok]))
        out[f"ari_{col}"] = float(skm.adjusted_rand_score(values[ok], clusters[ok]))
    return out
