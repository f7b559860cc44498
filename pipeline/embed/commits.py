"""Teacher outputs to committed store rows: validity counts and the background commit buffer."""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from pipeline.store import EmbeddingStore


def _stats(emb: np.ndarray) -> tuple[np.ndarray, dict]:
    """Valid mask and counts; `emb` is already in the stored dtype, so float16 overflow counts as NaN/Inf."""
    finite = np.isfinite(emb).all(axis=1)
    zero = finite & ~np.any(emb != 0, axis=1)
    valid = finite & ~zero
    return valid, {"nan_rows": int((~finite).sum()), "zero_rows": int(zero.sum()), "rows": len(emb)}


class CommitBuffer:
    """Collects batch outputs and commits them on a background thread at each chunk's end, or sooner once
    `commit_seconds` have passed since the last commit; a shard whose last rows are committed is then closed.

    A kill thus loses about `min(commit_seconds, one chunk's teacher time)` of work at most (plus the batch running
    and a commit being written), however long a shard takes.
    """

    def __init__(self, store: EmbeddingStore, commit_seconds: float, before_write: Callable[[], None] = lambda: None):
        self.store, self.commit_seconds = store, commit_seconds
        self.before_write = before_write  # raises to stop a write (e.g. this writer lost its claim on the shard)
        self.pending: list[np.ndarray] = []  # outputs of consecutive batches since the last commit
        self.first = -1  # the first row of `pending`
        self.last_commit = time.monotonic()
        self.pool = ThreadPoolExecutor(max_workers=1)  # one writer: commits land in order
        self.futures: list[Future] = []

    def add(self, rows: np.ndarray, emb: np.ndarray) -> None:
        """Take one batch (consecutive rows inside one chunk); commit at a chunk or shard end, or when one is due."""
        self._raise_failed()
        if not self.pending:
            self.first = int(rows[0])
        self.pending.append(emb)
        end, layout = int(rows[-1]) + 1, self.store.layout
        shard = self.first // layout.shard_rows
        shard_end = end == layout.shard_range(shard)[1]
        if shard_end or end % layout.chunk_rows == 0 or time.monotonic() - self.last_commit >= self.commit_seconds:
            self._commit(shard, shard_end)

    def _commit(self, shard: int, close: bool) -> None:
        with np.errstate(over="ignore"):  # values past float16's range become Inf and are flagged below
            block = np.concatenate(self.pending).astype(self.store.layout.dtype)
        valid, stats = _stats(block)
        block[~valid] = 0
        self.futures.append(self.pool.submit(self._write, shard, self.first, block, valid, stats, close))
        self.pending, self.last_commit = [], time.monotonic()

    def _write(self, shard: int, first: int, block: np.ndarray, valid: np.ndarray, stats: dict, close: bool) -> None:
        self.before_write()
        self.store.commit_rows(shard, first, block, valid, stats)
        if close:
            self.store.close_shard(shard)

    def _raise_failed(self) -> None:
        """Re-raise the first failed commit; forget the ones that succeeded."""
        done = [f for f in self.futures if f.done()]
        for f in done:
            f.result()
        self.futures = [f for f in self.futures if f not in done]

    def __enter__(self) -> "CommitBuffer":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        """Wait for every submitted commit (also when the teacher failed: its rows are done work); re-raise the first
        failed commit unless an error is already on its way."""
        self.pool.shutdown(wait=True)
        if kind is None:
            for f in self.futures:
                f.result()
