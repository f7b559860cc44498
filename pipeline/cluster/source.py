"""Block reads of a store's clip embeddings: whole zarr chunks at a time, so memory follows the block size."""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from pipeline.cluster.features import l2_normalize
from pipeline.store import EmbeddingStore


def _runs(chunks: np.ndarray) -> list[tuple[int, int]]:
    """Sorted chunk ids -> [first, last] runs of adjacent ids (one zarr read per run)."""
    breaks = np.flatnonzero(np.diff(chunks) != 1) + 1
    return [(int(part[0]), int(part[-1])) for part in np.split(chunks, breaks) if len(part)]


class ClipSource:
    """The `clip` (n_clips, dim) and `clip_valid` (n_clips,) arrays of a store, read in chunk-aligned blocks."""

    def __init__(self, store: EmbeddingStore, block_rows: int):
        self.store, self.array = store, store.array("clip")
        self.valid = np.asarray(store.read("clip_valid"), dtype=bool)  # (n_clips,), small
        self.n_rows, self.dim = (int(s) for s in self.array.shape)
        self.chunk = int(self.array.chunks[0])
        self.n_chunks = -(-self.n_rows // self.chunk)
        # a block is a whole number of zarr chunks, never less than one
        self.block_chunks = max(1, -(-block_rows // self.chunk))

    def read_chunks(self, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row ids (rows,) and float32 embeddings (rows, dim) of whole chunks, in row order."""
        spans = [(first * self.chunk, min((last + 1) * self.chunk, self.n_rows))
                 for first, last in _runs(np.sort(np.asarray(chunks, dtype=np.int64)))]
        rows = np.concatenate([np.arange(start, stop, dtype=np.int64) for start, stop in spans])
        out = np.empty((len(rows), self.array.shape[1]), dtype=np.float32)  # this store's own width
        at = 0
        for start, stop in spans:
            out[at:at + stop - start] = self.store.read("clip", slice(start, stop))  # float16 -> float32
            at += stop - start
        return rows, out

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every row once, in order, one block of chunks at a time."""
        for first in range(0, self.n_chunks, self.block_chunks):
            yield self.read_chunks(np.arange(first, min(first + self.block_chunks, self.n_chunks)))

    def shuffled_blocks(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every row once; each block gathers chunks drawn at random from the whole store (mixes sorted corpora)."""
        order = rng.permutation(self.n_chunks)
        for first in range(0, self.n_chunks, self.block_chunks):
            yield self.read_chunks(order[first:first + self.block_chunks])

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """Embeddings (len(rows), dim) float32 of arbitrary rows, reading only the chunks that hold them."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        order = np.argsort(rows, kind="stable")
        chunk_of = rows[order] // self.chunk
        touched = np.unique(chunk_of)
        for first in range(0, len(touched), self.block_chunks):
            group = touched[first:first + self.block_chunks]
            block_rows, block = self.read_chunks(group)
            pick = order[np.isin(chunk_of, group)]  # positions in `rows` served by this block
            out[pick] = block[np.searchsorted(block_rows, rows[pick])]
        return out


class JointClipSource(ClipSource):
    """Several stores' clip embeddings as one: each teacher's row L2-normalised, then concatenated (rows, sum of
    dims), so every teacher's space counts equally whatever its scale or width. Blocks follow the first store's
    chunks; a row is valid when it is valid in every store."""

    def __init__(self, stores: Sequence[EmbeddingStore], block_rows: int):
        super().__init__(stores[0], block_rows)
        self.others = [ClipSource(s, block_rows) for s in stores[1:]]
        self.valid = np.logical_and.reduce([self.valid, *(o.valid for o in self.others)])
        self.dim = self.dim + sum(o.dim for o in self.others)

    def read_chunks(self, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row ids (rows,) and joint features (rows, sum of dims) of the first store's whole chunks."""
        rows, first = super().read_chunks(chunks)
        parts = [first, *(o.read_rows(rows) for o in self.others)]
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero row becomes NaN: `usable_rows` drops it
            return rows, np.concatenate([l2_normalize(p) for p in parts], axis=1)


def open_clips(stores: Sequence[EmbeddingStore], block_rows: int) -> ClipSource:
    """The clip reader of one store, or of several stores' joint space."""
    return ClipSource(stores[0], block_rows) if len(stores) == 1 else JointClipSource(stores, block_rows)


def sample_rows(valid: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to `n` distinct valid rows in random order (any prefix is itself a uniform sample)."""
    candidates = np.flatnonzero(valid)
    return rng.choice(candidates, size=min(n, len(candidates)), replace=False)
