"""What every store shares: its layout, fingerprint, checksums and errors."""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

import fsspec
import numpy as np
import zarr

FORMAT_VERSION = 1
EMBEDDING_ARRAYS = ("window", "clip")  # float arrays whose fill value (NaN) marks a missing chunk
COUNTS = ("nan_rows", "zero_rows", "rows")  # per-commit counts a shard's ledger entry sums
ROW_ARRAYS = ("window_clip", "window_start", "window_length")  # the window index every store has
VIEW_ARRAYS = ("window_view", "view_partner", "view_params")  # the view table of a store with augmented views
VIEW_PARAMS = ("shift", "gain_db", "partner_start", "mix_db")  # columns of view_params (pipeline/audio/views.py)


class StoreError(Exception):
    """The store is missing, incomplete, corrupt or built from something else."""


@functools.cache
def remote_errors() -> tuple[type[BaseException], ...]:
    """Errors an object-store client raises when its endpoint stops answering, besides OSError (s3fs passes
    botocore's connection errors through; aiohttp's come from HTTP-based filesystems); only those installed."""
    found: list[type[BaseException]] = []
    try:
        from botocore.exceptions import BotoCoreError
        found.append(BotoCoreError)
    except ImportError:
        pass
    try:
        from aiohttp import ClientError
        found.append(ClientError)
    except ImportError:
        pass
    return tuple(found)


@dataclass(frozen=True)
class StoreLayout:
    """Shapes and chunking of a store, fixed at creation."""

    n_clips: int
    n_windows: int
    dim: int
    dtype: str = "float16"
    chunk_rows: int = 1024
    shard_rows: int = 4096

    @property
    def n_shards(self) -> int:
        return -(-self.n_windows // self.shard_rows)

    def shard_range(self, shard: int) -> tuple[int, int]:
        """Window rows [start, stop) of a shard."""
        start = shard * self.shard_rows
        return start, min(start + self.shard_rows, self.n_windows)


def write_every_chunk():
    """Context in which zarr writes chunks equal to the fill value too (by default it omits them), so that a missing
    chunk file always means lost data."""
    return zarr.config.set({"array.write_empty_chunks": True})


def open_group(url: str, mode: str) -> zarr.Group:
    """`zarr.open_group` for a path or fsspec URL; explicit `file://` URLs create their folders as local paths do."""
    local_url = "://" in url and fsspec.utils.get_protocol(url) in ("file", "local")
    return zarr.open_group(url, mode=mode, **({"storage_options": {"auto_mkdir": True}} if local_url else {}))


def store_fingerprint(meta: dict) -> str:
    """Short hash naming a store: teacher weights, corpus, window settings (and views, for a store with views)."""
    keys = ("teacher_fingerprint", "corpus_fingerprint", "teacher_sample_rate", "window_seconds",
            "hop_seconds", "last_window", "dtype", "pooling") + (("views", "view_augment") if "views" in meta else ())
    blob = json.dumps({k: meta[k] for k in keys}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def shard_checksum(embeddings: np.ndarray, valid: np.ndarray) -> str:
    """sha256 over rows' stored bytes (embeddings then valid mask): a whole shard's, or one commit's."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(embeddings).tobytes())
    h.update(np.ascontiguousarray(valid, dtype=bool).tobytes())
    return h.hexdigest()
