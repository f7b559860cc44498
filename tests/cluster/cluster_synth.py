"""Synthetic embedding stores written through the real store API (create, write_shard, finalise)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.store import EmbeddingStore, StoreLayout, store_fingerprint


def write_store(url: str, x: np.ndarray, valid: np.ndarray | None = None, chunk_rows: int = 256,
                corpus_fingerprint: str = "corpus-a", dtype: str = "float16", teacher: str = "synth") -> EmbeddingStore:
    """A complete store of `teacher` holding one window per clip, so the clip embeddings equal `x` (rows, dim)."""
    n, dim = x.shape
    valid = np.ones(n, dtype=bool) if valid is None else valid
    layout = StoreLayout(n_clips=n, n_windows=n, dim=dim, dtype=dtype, chunk_rows=chunk_rows,
                         shard_rows=chunk_rows * 4)
    meta = {"teacher": teacher, "teacher_fingerprint": f"{teacher}-0", "corpus_fingerprint": corpus_fingerprint,
            "teacher_sample_rate": 16000, "window_seconds": 1.0, "hop_seconds": 1.0, "last_window": "pad",
            "dtype": dtype, "pooling": "mean"}
    meta["store_fingerprint"] = store_fingerprint(meta)
    index = {"window_clip": np.arange(n), "window_start": np.zeros(n, np.int64), "window_length": np.ones(n, np.int64)}
    store = EmbeddingStore.create(url, layout, meta, index)
    for shard in range(layout.n_shards):
        start, stop = layout.shard_range(shard)
        store.write_shard(shard, x[start:stop], valid[start:stop], {})
    store.finalise()
    return EmbeddingStore.open(url)


def manifest_for(n: int, **labels) -> pd.DataFrame:
    """A corpus-style manifest of `n` rows with optional label columns."""
    df = pd.DataFrame({"clip_id": [f"c{i:06d}" for i in range(n)], "path": [f"c{i}.wav" for i in range(n)],
                       "duration": np.ones(n), "labels": [""] * n, "split": [""] * n})
    for name, values in labels.items():
        df[name] = np.asarray(values).astype(str)
    return df


def blobs(n: int, k: int, dim: int, seed: int = 0, spread: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs around k random unit directions (well separated also after L2 normalisation)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = rng.integers(0, k, size=n)
    x = 3.0 * (centres[truth] + spread * rng.standard_normal((n, dim)) / np.sqrt(dim) * 4)
    return x.astype(np.float32), truth
