"""Clip embeddings of a task for one model, computed once and cached in a small Zarr v3 store.

A store lives at `<cache_dir>/<task>/<model>-<key>.zarr`, where the key hashes the model fingerprint,
the task fingerprint, the sample rate and how rows are embedded (the window length; for a detection task's
segments, pipeline/evaluate/segment_embeddings.py's setting), so a changed model or task gets a new store.
Arrays, aligned with the task's rows:
    embedding  (n, dim)  float32  mean of the clip's window embeddings (0 where invalid)
    valid      (n,)      bool     False where every window of the clip gave NaN/Inf
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Protocol, runtime_checkable

import numpy as np
import torch
import zarr

from pipeline.audio.decode import DecodeError, decode
from pipeline.audio.windows import slice_windows, window_lengths, window_starts
from pipeline.evaluate.tasks import Task, TaskError


@runtime_checkable
class Embedder(Protocol):
    """A frozen model mapping one window per row to one embedding per row.

    `embed_batch` takes float32 (batch, samples) at `sample_rate` plus `lengths` (batch,), the real
    (unpadded) samples of each row, and returns (batch, embed_dim). `fingerprint` changes whenever
    the weights or front-end settings change.
    """

    name: str
    fingerprint: str
    sample_rate: int
    embed_dim: int

    def embed_batch(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, samples) float32 -> (batch, embed_dim)."""
        ...


def cache_path(cache_dir: str | Path, task: Task, embedder: Embedder, setting: float | list) -> Path:
    """Where the embeddings of `task` under `embedder` are (or will be) stored; `setting` is how rows are embedded
    (a clip task: the window length in seconds)."""
    setting = float(setting) if isinstance(setting, (int, float)) else setting
    key = json.dumps([embedder.fingerprint, task.fingerprint, int(embedder.sample_rate), setting])
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", embedder.name)
    return Path(cache_dir) / task.name / f"{safe}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.zarr"


def task_embeddings(task: Task, embedder: Embedder, cache_dir: str | Path, window_seconds: float,
                    batch_size: int = 16, device: str | torch.device = "cpu") -> np.ndarray:
    """(n, dim) float32 clip embeddings of the task (NaN rows where invalid), from the cache when present."""
    path = cache_path(cache_dir, task, embedder, window_seconds)
    attrs = {"model": embedder.name, "model_fingerprint": embedder.fingerprint, "task": task.name,
             "task_fingerprint": task.fingerprint, "sample_rate": int(embedder.sample_rate),
             "window_seconds": float(window_seconds), "n_clips": task.n_clips, "dim": int(embedder.embed_dim)}
    compute = partial(compute_embeddings, task, embedder, window_seconds, batch_size, device)
    return cached_embeddings(path, attrs, compute)


def cached_embeddings(path: Path, attrs: dict,
                      compute: Callable[[], tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(n, dim) float32 rows of the store at `path` when complete and matching `attrs`, else `compute()`d
    (embedding, valid) written there first; NaN rows where invalid."""
    cached = read_cache(path, attrs)
    if cached is None:
        embedding, valid = compute()
        write_cache(path, embedding, valid, attrs)
    else:
        embedding, valid = cached
    return np.where(valid[:, None], embedding, np.nan).astype(np.float32)


def read_cache(path: Path, attrs: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """(embedding, valid) of a complete store whose attributes match `attrs`, else None."""
    if not (path / "zarr.json").exists():
        return None
    group = zarr.open_group(str(path), mode="r")
    stored = dict(group.attrs)
    if not stored.get("complete") or any(stored.get(k) != v for k, v in attrs.items()):
        return None
    return group["embedding"][:], group["valid"][:]


def write_cache(path: Path, embedding: np.ndarray, valid: np.ndarray, attrs: dict) -> None:
    """Write the store next to its final place, then rename it there (no half-written store is ever read)."""
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    group = zarr.open_group(str(partial), mode="w")
    rows = max(1, min(len(embedding), 4096))
    group.create_array("embedding", data=embedding.astype(np.float32), chunks=(rows, embedding.shape[1]))
    group.create_array("valid", data=valid.astype(bool), chunks=(rows,))
    group.attrs.update(dict(attrs, complete=True))
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)


def compute_embeddings(task: Task, embedder: Embedder, window_seconds: float, batch_size: int,
                       device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Mean over each clip's finite window embeddings: ((n, dim) float32, (n,) valid)."""
    sums = np.zeros((task.n_clips, embedder.embed_dim), dtype=np.float64)
    counts = np.zeros(task.n_clips, dtype=np.int64)
    window = int(round(window_seconds * embedder.sample_rate))
    for waves, lengths, clips in window_batches(task.paths, embedder.sample_rate, window, batch_size):
        with torch.inference_mode():
            out = embedder.embed_batch(torch.from_numpy(waves).to(device), torch.from_numpy(lengths).to(device))
        out = out.detach().float().cpu().numpy()  # (batch, dim)
        if out.shape != (len(waves), embedder.embed_dim):
            raise ValueError(f"embedder {embedder.name} returned {out.shape} for {len(waves)} windows, expected "
                             f"({len(waves)}, {embedder.embed_dim})")
        ok = np.isfinite(out).all(axis=1)
        np.add.at(sums, clips[ok], out[ok])
        counts += np.bincount(clips[ok], minlength=task.n_clips)
    valid = counts > 0
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32), valid


def window_batches(paths: np.ndarray, sample_rate: int, window: int,
                   batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Batches of (windows (b, window) float32, real lengths (b,) int64, clip rows (b,) int64) in clip order."""
    waves, lengths, clips = [], [], []
    for row, path in enumerate(paths):
        try:
            audio = decode(path, sample_rate)
        except DecodeError as exc:
            raise TaskError(f"cannot decode task audio {path}: {exc}") from exc
        starts = window_starts(len(audio), window, window)
        waves.extend(slice_windows(audio, window, window))
        lengths.extend(window_lengths(len(audio), starts, window))
        clips.extend([row] * len(starts))
        while len(waves) >= batch_size:
            yield _stack(waves[:batch_size], lengths[:batch_size], clips[:batch_size])
            del waves[:batch_size], lengths[:batch_size], clips[:batch_size]
    if waves:
        yield _stack(waves, lengths, clips)


def _stack(waves: list, lengths: list, clips: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.stack(waves), np.asarray(lengths, dtype=np.int64), np.asarray(clips, dtype=np.int64)
