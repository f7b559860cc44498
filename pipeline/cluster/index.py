"""The sampling index: a Parquet table aligned to corpus rows (clip_id, cluster, distance, weight).

Its schema metadata (and `meta.json` beside it) records which store it was built from; `load_index`
refuses an index from another store or with another row count, so training never samples with stale weights.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.cluster.config import ClusterError

INDEX = "index.parquet"
META_KEY = b"ssondo.cluster"


def write_index(folder: str | Path, clip_ids: pd.Series | np.ndarray, clusters: np.ndarray, distances: np.ndarray,
                weights: np.ndarray, meta: dict) -> Path:
    """Write `<folder>/index.parquet` (meta in its schema) and `<folder>/meta.json`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # arrow strings straight from the Python objects: a numpy unicode array would pad every id to the longest
    table = pa.table({"clip_id": pa.array(pd.Series(clip_ids, dtype=str), type=pa.string()),
                      "cluster": pa.array(clusters, type=pa.int32()),
                      "distance": pa.array(distances, type=pa.float32()),
                      "weight": pa.array(weights, type=pa.float64())})
    meta = dict(meta, n_rows=len(clusters))
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta, sort_keys=True).encode()})
    pq.write_table(table, folder / INDEX)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return folder / INDEX


def read_meta(path: str | Path) -> dict:
    """The metadata stored in an index file (a folder means its index.parquet)."""
    path = _index_path(path)
    if not path.exists():
        raise ClusterError(f"no cluster index at {path}; run `ssondo cluster`")
    try:
        raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
    except (pa.ArrowException, OSError) as exc:  # a truncated or overwritten file has no valid footer
        raise ClusterError(f"{path} is not a readable Parquet file ({exc}); re-run `ssondo cluster`") from exc
    if raw is None:
        raise ClusterError(f"{path} is not a cluster index (no {META_KEY.decode()} metadata)")
    return json.loads(raw)


def load_index(path: str | Path, store_fingerprints: str | Sequence[str],
               n_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sampling weights (n_clips,) float64 and clusters (n_clips,) int64, refusing an index built from a store
    that is not among `store_fingerprints` (the stores training reads)."""
    meta = read_meta(path)
    current = [store_fingerprints] if isinstance(store_fingerprints, str) else list(store_fingerprints)
    built = meta.get("store_fingerprints") or [meta.get("store_fingerprint")]  # joint, or one store
    if not set(built) <= set(current):
        raise ClusterError(f"cluster index {path} was built from store {' + '.join(map(str, built))} but the "
                           f"current store is {' + '.join(current)}; re-run `ssondo cluster`")
    df = pd.read_parquet(_index_path(path), columns=["cluster", "weight"])
    expected = meta["n_rows"] if n_rows is None else n_rows
    if len(df) != meta["n_rows"] or len(df) != expected:
        raise ClusterError(f"cluster index {path} has {len(df)} rows but {expected} were expected "
                           f"(recorded {meta['n_rows']}); re-run `ssondo cluster`")
    weights = df["weight"].to_numpy(dtype=np.float64)
    if not (np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0):
        raise ClusterError(f"cluster index {path} has negative, non-finite or all-zero weights")
    return weights / weights.sum(), df["cluster"].to_numpy(dtype=np.int64)


def _index_path(path: str | Path) -> Path:
    path = Path(path)
    return path / INDEX if path.is_dir() else path
