"""Spot check of a store against its teacher: re-embed random rows and compare."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import default_collate

from pipeline.corpus import Corpus
from pipeline.embed.windows import WindowDataset
from pipeline.store import EmbeddingStore
from pipeline.teachers.base import Teacher


def sample_rows(store: EmbeddingStore, n: int, seed: int) -> np.ndarray:
    """`n` random valid rows, sorted; with views, half of them view rows (their rendering is checked too)."""
    rng = np.random.default_rng(seed)
    valid = store.array("window_valid")[:]
    plain = store.plain_rows()
    groups = [np.flatnonzero(valid & plain), np.flatnonzero(valid & ~plain)]
    share = [n - n // 2, n // 2] if store.views else [n, 0]
    picked = [rng.choice(g, size=min(k, len(g)), replace=False) for g, k in zip(groups, share)]
    return np.sort(np.concatenate(picked).astype(np.int64))


def reembed_check(store: EmbeddingStore, teacher: Teacher, corpus: Corpus, n: int, seed: int = 0,
                  tolerance: float = 2e-2, batch_size: int = 16) -> tuple[list[str], dict]:
    """Re-embed `n` random valid rows on the CPU (with views: half of them views, rebuilt from their recorded
    parameters) and compare with the stored rows (relative L2 error).

    The default tolerance covers float16 storage and bf16 autocast on GPU; a wrong or corrupt row is off by O(1).
    Returns (problems, summary).
    """
    if teacher.fingerprint != store.attrs.get("teacher_fingerprint"):
        return [f"re-embedding: teacher fingerprint {teacher.fingerprint} is not the store's "
                f"{store.attrs.get('teacher_fingerprint')} (different weights or options); not compared"], {}
    rows = sample_rows(store, n, seed)
    index = store.row_index()
    window = int(round(float(store.attrs["window_seconds"]) * corpus.sample_rate))
    dataset = WindowDataset(corpus, index, window, int(teacher.sample_rate))
    errors = np.zeros(len(rows))
    teacher.to("cpu")
    for lo in range(0, len(rows), batch_size):
        batch = rows[lo: lo + batch_size]
        waves, reals, _ = default_collate([dataset[int(i)] for i in batch])
        with torch.inference_mode():
            fresh = teacher.embed(waves, reals).float().numpy()  # (batch, dim)
        fresh = fresh.astype(store.layout.dtype).astype(np.float64)
        stored = store.array("window").oindex[batch, :].astype(np.float64)
        diff = np.linalg.norm(fresh - stored, axis=1) / np.maximum(np.linalg.norm(stored, axis=1), 1e-12)
        errors[lo: lo + len(batch)] = np.where(np.isfinite(diff), diff, np.inf)
    bad = rows[errors > tolerance]
    summary = {"reembedded_rows": int(len(rows)), "max_relative_error": float(errors.max(initial=0.0))}
    if len(bad):
        return [f"re-embedding: {len(bad)}/{len(rows)} sampled row(s) differ from the stored rows by more than "
                f"{tolerance} (relative L2), e.g. rows {bad[:5].tolist()}"], summary
    return [], summary
