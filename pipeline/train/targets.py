"""Teacher targets for training (read from embedding stores without one zarr call per row), and label targets.

Every kind answers the `Targets` protocol, so the loop never asks which kind it holds.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Protocol, Sequence

import numpy as np
import torch

from pipeline.store import EmbeddingStore, StoreError
from pipeline.students.head import to_teacher_space


class Targets(Protocol):
    """Row-aligned training targets: `get(rows) -> (batch, dim)` float32, plus which rows are usable."""

    valid: np.ndarray  # (rows,) bool: a finite target (teacher output, or at least one label)
    chunk_rows: int    # storage chunk length (0: random access is free); epoch plans are ordered by chunk

    @property
    def dim(self) -> int: ...

    def get(self, rows: np.ndarray) -> torch.Tensor: ...


class RamTargets:
    """All target rows in one float32 tensor; `get(rows)` is a gather."""

    def __init__(self, table: np.ndarray, valid: np.ndarray):
        self.table = np.ascontiguousarray(table, dtype=np.float32)  # (rows, dim)
        self.valid = valid
        self.chunk_rows = 0

    @property
    def dim(self) -> int:
        return self.table.shape[1]

    def get(self, rows: np.ndarray) -> torch.Tensor:
        # a numpy gather: torch's threaded index_select stalls on busy machines for small batches
        return torch.from_numpy(self.table[np.asarray(rows, dtype=np.int64)])


class NormalisedTargets:
    """Targets shifted by a mean and scaled by a std per dimension (estimated on training rows).

    Teachers whose embeddings share a large common direction (post-ReLU pooling, e.g. aisfx) make a raw cosine
    loss reward predicting that direction; centring makes the loss about what differs between clips.
    """

    def __init__(self, raw: Targets, mean: np.ndarray, std: np.ndarray, norm: float):
        self.raw, self.valid, self.chunk_rows = raw, raw.valid, raw.chunk_rows
        self.mean = torch.as_tensor(mean, dtype=torch.float32)  # (dim,)
        self.std = torch.as_tensor(std, dtype=torch.float32)    # (dim,)
        self.norm = float(norm)  # median L2 norm of a normalised training target

    @property
    def dim(self) -> int:
        return self.raw.dim

    def get(self, rows: np.ndarray) -> torch.Tensor:
        return (self.raw.get(rows) - self.mean) / self.std

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        """Map a prediction in normalised space back to the teacher's space (see `to_teacher_space`)."""
        return to_teacher_space(x, self.mean.to(x.device), self.std.to(x.device), self.norm)


class LabelTargets:
    """Multi-hot label targets for the supervised baseline (labels split on ';' or ',')."""

    def __init__(self, labels: list[str]):
        tokens = [[t.strip() for t in str(s).replace(",", ";").split(";") if t.strip()] for s in labels]
        self.classes = sorted({t for ts in tokens for t in ts})
        if not self.classes:
            raise ValueError("supervised objective: the label column is empty for every row")
        pos = {c: i for i, c in enumerate(self.classes)}
        table = np.zeros((len(labels), len(self.classes)), dtype=np.float32)
        for i, ts in enumerate(tokens):
            table[i, [pos[t] for t in ts]] = 1.0
        self.table = torch.from_numpy(table)
        self.valid = table.sum(axis=1) > 0
        self.chunk_rows = 0

    @property
    def dim(self) -> int:
        return len(self.classes)

    def get(self, rows: np.ndarray) -> torch.Tensor:
        return self.table[torch.as_tensor(rows, dtype=torch.long)]


def target_stats(targets: Targets, rows: np.ndarray, mode: str, floor: float = 0.1) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-dimension mean and scale of `rows` for `mode` center (scale 1) or standardize, and the median norm
    of the normalised rows.

    The std is floored at `floor` x its median so near-constant dimensions are not blown up into noise.
    """
    x = targets.get(np.sort(rows)).double().numpy()  # (rows, dim)
    mean = x.mean(axis=0)
    std = np.ones_like(mean) if mode == "center" else np.maximum(x.std(axis=0), floor * np.median(x.std(axis=0)) + 1e-12)
    return mean, std, float(np.median(np.linalg.norm((x - mean) / std, axis=1)))


class ChunkTargets:
    """Targets read by whole zarr chunks, keeping the last few chunks; pair with `block_order` plans."""

    def __init__(self, store: EmbeddingStore, array: str, valid: np.ndarray, cache_chunks: int = 16):
        self.store, self.array, self.valid = store, array, valid
        zarray = store.group[array]  # opening an array reads its metadata (a request on an object store): once
        self.chunk_rows, self.dim = zarray.chunks[0], zarray.shape[1]
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.cache_chunks = cache_chunks

    def _chunk(self, c: int) -> np.ndarray:
        if c not in self.cache:
            lo = c * self.chunk_rows
            self.cache[c] = self.store.read(self.array, slice(lo, lo + self.chunk_rows)).astype(np.float32)
            while len(self.cache) > self.cache_chunks:
                self.cache.popitem(last=False)
        self.cache.move_to_end(c)
        return self.cache[c]

    def get(self, rows: np.ndarray) -> torch.Tensor:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        for c in np.unique(rows // self.chunk_rows):
            sel = rows // self.chunk_rows == c
            out[sel] = self._chunk(int(c))[rows[sel] - c * self.chunk_rows]
        return torch.from_numpy(out)


class TeacherTargets:
    """Several teachers' targets side by side, one block per projection head.

    `get` concatenates the teachers' rows into one (batch, sum of dims) tensor, so batching, mixup and the loss
    call treat them as one target; `parts[t]` is teacher t's own targets (normalised on its own).
    """

    def __init__(self, parts: Sequence[Targets]):
        self.parts = list(parts)
        self.valid = np.logical_and.reduce([p.valid for p in self.parts])  # a row is usable for every teacher
        self.chunk_rows = self.parts[0].chunk_rows

    @property
    def dims(self) -> list[int]:
        return [p.dim for p in self.parts]

    @property
    def dim(self) -> int:
        return sum(self.dims)

    def get(self, rows: np.ndarray) -> torch.Tensor:
        return torch.cat([p.get(rows) for p in self.parts], dim=1)


def check_aligned(stores: Sequence[EmbeddingStore], level: str) -> int:
    """The shared row count of `level` in every store; refuses stores whose rows are not the same windows (and, with
    views, not the same views)."""
    rows = {s.group[level].shape[0] for s in stores}
    if len(rows) != 1:
        raise StoreError(f"stores disagree on the number of {level} rows: {sorted(rows)} (one corpus and the same "
                         f"audio.window_seconds/hop_seconds/last_window and embed.views give every teacher the "
                         f"same rows)")
    if level == "window" and len(stores) > 1:
        first = stores[0].row_index()
        for s in stores[1:]:
            other = s.row_index()
            if first.keys() != other.keys() or not all(np.array_equal(first[k], other[k]) for k in first):
                raise StoreError(f"store {s.url} cuts other windows or views than {stores[0].url} (different "
                                 f"window or embed.views settings): their window targets do not align")
    return rows.pop()


def load_targets(stores: Sequence[EmbeddingStore], level: str = "clip", memory_budget_bytes: int = 2 << 30,
                 cache_chunks: int = 16, rows: np.ndarray | None = None):
    """Targets of one store at `clip` or `window` level; several stores give `TeacherTargets` (one part each).

    Each part is RamTargets when the float32 tables of all stores fit the budget together, else ChunkTargets
    (whole-chunk reads) keeping `cache_chunks` chunks: at least a `block_order` block, so each chunk is read
    once per block. `rows` (bool, one per row) narrows which rows count as usable (e.g. plain windows, not views).
    """
    if level not in ("clip", "window"):
        raise ValueError(f"target level must be 'clip' or 'window', got {level!r}")
    n = check_aligned(stores, level)
    in_ram = n * sum(s.group[level].shape[1] for s in stores) * 4 <= memory_budget_bytes
    valid = [s.read(f"{level}_valid") & (True if rows is None else rows) for s in stores]
    parts = [RamTargets(s.read(level).astype(np.float32), ok) if in_ram
             else ChunkTargets(s, level, ok, cache_chunks) for s, ok in zip(stores, valid)]
    return parts[0] if len(parts) == 1 else TeacherTargets(parts)


def normalise_targets(targets: Targets, rows: np.ndarray, mode: str) -> Targets:
    """`targets` normalised by `mode` with statistics of `rows`: each teacher's part on its own."""
    if isinstance(targets, TeacherTargets):
        return TeacherTargets([normalise_targets(p, rows, mode) for p in targets.parts])
    return NormalisedTargets(targets, *target_stats(targets, rows, mode))
