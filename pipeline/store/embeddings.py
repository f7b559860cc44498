"""`EmbeddingStore`: read and write one store (creation, commits, ledger, finalise, reads, info)."""
from __future__ import annotations

import contextlib
import json
import math
import time
from typing import Any

import fsspec
import numpy as np
import zarr

from pipeline import __version__
from pipeline.audio.config import AudioConfig
from pipeline.store.layout import (COUNTS, EMBEDDING_ARRAYS, FORMAT_VERSION, ROW_ARRAYS, VIEW_ARRAYS, StoreError,
                                   StoreLayout, open_group, remote_errors, shard_checksum, write_every_chunk)


class EmbeddingStore:
    """Read/write access to one store; `url` is a local path or any fsspec URL."""

    def __init__(self, url: str, group: zarr.Group):
        self.url = str(url)
        self.group = group
        self.attrs = dict(group.attrs)
        self.layout = StoreLayout(**self.attrs["layout"])
        self.fs, self.root = fsspec.core.url_to_fs(self.url)

    # -- creation -------------------------------------------------------------------------------
    @classmethod
    def create(cls, url: str, layout: StoreLayout, meta: dict, index: dict[str, np.ndarray]) -> "EmbeddingStore":
        """Create the arrays and write the window index; an existing store at `url` is an error (FileExistsError).
        Other files there (the writers' claims) are left alone."""
        fs, root = fsspec.core.url_to_fs(url)
        if fs.exists(f"{root}/zarr.json"):
            raise FileExistsError(f"{url}: a store exists there already")
        group = open_group(url, mode="a")
        rows, chunk = (layout.n_windows, layout.dim), (layout.chunk_rows, layout.dim)
        shards = (layout.shard_rows, layout.dim) if layout.shard_rows > layout.chunk_rows else None
        codec = zarr.codecs.ZstdCodec(level=3)
        # NaN fill: a chunk file that goes missing reads back as NaN, never as plausible zeros; `read` then checks the
        # file is really absent (every chunk is written, see write_every_chunk) and refuses the rows
        group.create_array("window", shape=rows, dtype=layout.dtype, chunks=chunk, shards=shards,
                           compressors=codec, fill_value=np.nan)
        group.create_array("window_valid", shape=(layout.n_windows,), dtype=bool,
                           chunks=(layout.shard_rows,), fill_value=False)
        for name in ROW_ARRAYS + (VIEW_ARRAYS if "window_view" in index else ()):
            data = np.asarray(index[name], dtype=np.float64 if name == "view_params" else np.int64)
            if len(data) != layout.n_windows:
                raise StoreError(f"{url}: index array {name} has {len(data)} rows, the layout {layout.n_windows}")
            group.create_array(name, data=data, chunks=(max(1, min(1 << 20, layout.n_windows)), *data.shape[1:]))
        attrs = dict(meta, layout=layout.__dict__, format_version=FORMAT_VERSION, package_version=__version__,
                     created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), complete=False)
        group.attrs.update(attrs)
        return cls(url, open_group(url, mode="r+"))

    @classmethod
    def open(cls, url: str, mode: str = "r") -> "EmbeddingStore":
        """Open an existing store (complete or not)."""
        try:
            group = open_group(url, mode=mode)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError) as exc:
            raise StoreError(f"no embedding store at {url} (missing zarr.json); run `ssondo embed`") from exc
        if "layout" not in group.attrs:
            raise StoreError(f"{url} is a Zarr group but not an embedding store (no layout attribute)")
        return cls(url, group)

    # -- ledger and progress --------------------------------------------------------------------
    def _ledger_path(self, shard: int) -> str:
        return f"{self.root}/ledger/shard-{shard:06d}.json"

    def _progress_path(self, shard: int) -> str:
        return f"{self.root}/ledger/progress-{shard:06d}.json"

    def _block_path(self, name: str, block: int) -> str:
        """File of one storage block (zarr shard, or chunk when unsharded) of an array split along rows only."""
        return f"{self.root}/{name}/c/{block}" + "/0" * (self.group[name].ndim - 1)

    def done_shards(self) -> set[int]:
        """Shards whose ledger entry exists, listed afresh (object-store clients cache listings, and another writer
        may have closed a shard since the last look)."""
        self.fs.invalidate_cache(f"{self.root}/ledger")
        try:
            names = self.fs.ls(f"{self.root}/ledger", detail=False)
        except FileNotFoundError:
            return set()
        done = set()
        for name in names:
            stem = name.rsplit("/", 1)[-1]
            if stem.startswith("shard-") and stem.endswith(".json"):
                done.add(int(stem[6:-5]))
        return done

    def ledger_entry(self, shard: int) -> dict:
        """The ledger record of a finished shard."""
        with self.fs.open(self._ledger_path(shard), "r") as f:
            return json.load(f)

    def progress(self, shard: int) -> list[dict]:
        """The recorded commits (start, stop, checksum, counts) of an unfinished shard, in row order."""
        try:  # read directly, never from a cached listing: a writer that held the shard may have committed since
            return json.loads(self.fs.cat_file(self._progress_path(shard)))["commits"]
        except FileNotFoundError:
            return []

    def write_shard(self, shard: int, embeddings: np.ndarray, valid: np.ndarray, stats: dict) -> None:
        """Write a whole shard's rows, then record it in the ledger (the record makes it count)."""
        start, stop = self.layout.shard_range(shard)
        if embeddings.shape != (stop - start, self.layout.dim):
            raise StoreError(f"shard {shard}: expected {(stop - start, self.layout.dim)}, got {embeddings.shape}")
        self.commit_rows(shard, start, embeddings, valid, stats)
        self.close_shard(shard)

    def commit_rows(self, shard: int, first: int, embeddings: np.ndarray, valid: np.ndarray, stats: dict) -> None:
        """Write rows `first`.. of a shard, then add them with their checksum to its progress record.

        Commits run in row order: the first starts at the shard's start, each next one where the last stopped.
        Only the record makes rows count, so a kill or a failed write before it leaves nothing a later run trusts.
        """
        start, stop = self.layout.shard_range(shard)
        last = first + len(embeddings)
        commits = self.progress(shard) if first > start else []
        expected = commits[-1]["stop"] if commits else start
        if first != expected or last > stop or embeddings.shape[1:] != (self.layout.dim,):
            raise StoreError(f"shard {shard}: cannot commit rows {first}:{last} of shape {embeddings.shape}; its next "
                             f"commit starts at row {expected}, ends by row {stop} and has {self.layout.dim} columns")
        stored = embeddings.astype(self.layout.dtype)
        with self._writing(f"rows {first}:{last}"):
            with write_every_chunk():  # a chunk equal to the fill value is written too: a missing file means loss
                self.group["window"][first:last] = stored
                self.group["window_valid"][first:last] = valid
            commits.append(dict(stats, start=first, stop=last, checksum=shard_checksum(stored, valid)))
            self._write_json(self._progress_path(shard), {"shard": shard, "commits": commits})

    def resume_row(self, shard: int) -> int:
        """First row of an unfinished shard left to compute: past its committed rows when they all read back with
        their checksums; else its start, after clearing its files (a block that fails to decode cannot be updated)."""
        start, _ = self.layout.shard_range(shard)
        try:
            commits = self.progress(shard)
        except (OSError, ValueError, KeyError):  # a record cut short by a crash: its rows are not trusted
            commits = []
        if commits and self._read_committed(shard, commits) is not None:
            return int(commits[-1]["stop"])
        # `window` and `window_valid` both keep one storage block per shard
        with self._writing(f"shard {shard}'s files (clearing them)"):
            for path in (self._block_path("window", shard), self._block_path("window_valid", shard),
                         self._progress_path(shard)):
                if self.fs.exists(path):
                    self.fs.rm(path)
        return start

    def close_shard(self, shard: int) -> None:
        """Turn a shard whose commits cover it into a ledger entry (checksum over the rows read back, counts summed)."""
        start, stop = self.layout.shard_range(shard)
        commits = self.progress(shard)
        rows = self._read_committed(shard, commits) if commits and commits[-1]["stop"] == stop else None
        if rows is None:
            raise StoreError(f"shard {shard}: its committed rows do not cover {start}:{stop} or differ from what was "
                             f"written; re-run `ssondo embed` to redo them")
        entry = {k: sum(int(c.get(k, 0)) for c in commits) for k in COUNTS}
        entry.update(shard=shard, start=start, stop=stop, checksum=shard_checksum(*rows))
        with self._writing(f"the ledger entry of shard {shard}"):
            self._write_json(self._ledger_path(shard), entry)
            self.fs.rm(self._progress_path(shard))

    def _read_committed(self, shard: int, commits: list[dict]) -> tuple[np.ndarray, np.ndarray] | None:
        """A shard's committed rows (embeddings, valid) if the commits tile them from its start and each matches its
        checksum; None otherwise (rows lost, cut short or changed since they were recorded)."""
        start, _ = self.layout.shard_range(shard)
        try:
            emb = self.group["window"][start:int(commits[-1]["stop"])]
            valid = self.group["window_valid"][start:int(commits[-1]["stop"])]
        except Exception:  # a truncated or corrupt block fails to decode
            return None
        at = start
        for c in commits:
            lo, hi = int(c["start"]) - start, int(c["stop"]) - start
            if c["start"] != at or hi <= lo or shard_checksum(emb[lo:hi], valid[lo:hi]) != c["checksum"]:
                return None
            at = c["stop"]
        return emb, valid

    def write_json(self, name: str, body: dict) -> None:
        """Replace the store's file `name` (e.g. the run's report) with `body` as JSON, whole or not at all."""
        with self._writing(name):
            self._write_json(f"{self.root}/{name}", body, indent=2)

    def _write_json(self, path: str, body: dict, indent: int | None = None) -> None:
        """Replace a small JSON record whole (written beside it, then moved over it)."""
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with self.fs.open(path + ".tmp", "w") as f:
            json.dump(body, f, indent=indent)
        self.fs.mv(path + ".tmp", path)

    @contextlib.contextmanager
    def _writing(self, what: str):
        """Turn an OSError while writing (disk full, no permission) into a StoreError naming the store and the file."""
        try:
            yield
        except remote_errors() as exc:
            raise StoreError(f"store {self.url}: cannot write {what}: the storage failed ({type(exc).__name__}: "
                             f"{exc}). Nothing from this write is recorded as done; once the endpoint, credentials or "
                             f"network are back, re-run `ssondo embed` to resume") from exc
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise StoreError(f"store {self.url}: cannot write {what}: {exc.strerror or exc}{where}. Nothing from this "
                             f"write is recorded as done; free space (or fix access) and re-run `ssondo embed` to "
                             f"resume") from exc

    # -- finalise and checks --------------------------------------------------------------------
    def finalise(self) -> None:
        """Compute clip embeddings (mean of valid windows) and mark the store complete."""
        missing = set(range(self.layout.n_shards)) - self.done_shards()
        if missing:
            raise StoreError(f"{self.url}: cannot finalise, {len(missing)} shard(s) not written: "
                             f"{sorted(missing)[:10]}")
        means, counts = clip_means(self)
        chunk = (self.layout.chunk_rows, self.layout.dim)
        with self._writing("the clip arrays and the completion mark"), write_every_chunk():
            self.group.create_array("clip", data=means.astype(self.layout.dtype), chunks=chunk, fill_value=np.nan,
                                    compressors=zarr.codecs.ZstdCodec(level=3), overwrite=True)
            self.group.create_array("clip_valid", data=counts > 0, chunks=(max(1, min(1 << 20, len(counts))),),
                                    overwrite=True)
            for path in self.fs.glob(f"{self.root}/ledger/progress-*"):  # left by a kill after a shard's ledger write
                self.fs.rm(path)
            self.group.attrs.update(complete=True, finalised=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.attrs = dict(self.group.attrs)

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete"))

    def require_complete(self, corpus_fingerprint: str | None = None) -> "EmbeddingStore":
        """Raise unless the store is finished and (optionally) built from the given corpus."""
        if not self.complete:
            done = len(self.done_shards())
            raise StoreError(f"store {self.url} is incomplete ({done}/{self.layout.n_shards} shards written); "
                             f"re-run `ssondo embed` to resume it")
        if corpus_fingerprint is not None and self.attrs["corpus_fingerprint"] != corpus_fingerprint:
            raise StoreError(f"store {self.url} was built from corpus {self.attrs['corpus_fingerprint']} but the "
                             f"corpus is {corpus_fingerprint}; re-run `ssondo embed` for this corpus")
        return self

    def require_audio(self, audio: AudioConfig) -> "EmbeddingStore":
        """Raise unless the store's windows were cut as `audio` (the params) says: a store records the window,
        hop and last-window rule it was embedded with, and that record wins; a disagreement names both values."""
        for key in ("window_seconds", "hop_seconds", "last_window"):
            stored, given = self.attrs.get(key), getattr(audio, key)
            same = stored == given if isinstance(given, str) else stored is not None and math.isclose(
                float(stored), float(given), rel_tol=1e-9)
            if not same:
                raise StoreError(f"store {self.url} was embedded with {key}={stored!r} but params have audio.{key}="
                                 f"{given!r}; re-run `ssondo embed` (dvc repro) for the new setting, or set audio."
                                 f"{key} back to {stored!r}")
        return self

    @property
    def fingerprint(self) -> str:
        return str(self.attrs["store_fingerprint"])

    @property
    def dim(self) -> int:
        return self.layout.dim

    def array(self, name: str) -> Any:
        """A zarr array of the store by name."""
        return self.group[name]

    def read(self, name: str, rows: slice = slice(None)) -> np.ndarray:
        """Rows of array `name`; a chunk that cannot be decoded (truncated, corrupt) or is missing raises StoreError."""
        span = "" if rows == slice(None) else f" rows {rows.start}:{rows.stop}"
        hint = f"run `ssondo store verify {self.url}`, then re-run `ssondo embed`"
        try:
            data = self.group[name][rows]
        except Exception as exc:  # codecs raise RuntimeError/ValueError/OSError alike on damaged bytes
            raise StoreError(f"store {self.url}: cannot read {name}{span} ({type(exc).__name__}: {exc}); it is "
                             f"damaged: {hint}") from exc
        if name in EMBEDDING_ARRAYS and data.dtype.kind == "f":
            nan_rows = np.flatnonzero(np.isnan(data).any(axis=-1) if data.ndim > 1 else np.isnan(data))
            lost = self._missing_blocks(name, nan_rows + (rows.start or 0))
            if lost:
                raise StoreError(f"store {self.url}: rows {lost[0][0]}:{lost[0][1]} of {name} read back as NaN "
                                 f"because their chunk file is missing ({len(lost)} block(s)); {hint}")
        return data

    def _missing_blocks(self, name: str, rows: np.ndarray) -> list[tuple[int, int]]:
        """Row ranges of `name` holding some of `rows` whose storage file (chunk or shard) does not exist."""
        if not len(rows):
            return []
        array = self.group[name]
        block = (array.shards or array.chunks)[0]
        missing = []
        for b in np.unique(rows // block):
            if not self.fs.exists(self._block_path(name, int(b))):
                missing.append((int(b) * block, min((int(b) + 1) * block, array.shape[0])))
        return missing

    @property
    def views(self) -> int:
        """Augmented views per clip (0: plain windows only)."""
        return int(self.attrs.get("views", 0))

    def row_index(self) -> dict[str, np.ndarray]:
        """The window index (and, with views, the view table), whole, by array name."""
        return {k: self.read(k) for k in ROW_ARRAYS + (VIEW_ARRAYS if self.views else ())}

    def plain_rows(self) -> np.ndarray:
        """(n_windows,) bool: rows that are plain windows, not views."""
        if not self.views:
            return np.ones(self.layout.n_windows, dtype=bool)
        return self.read("window_view") < 0

    def info(self) -> dict:
        """A summary for `ssondo store info` (attributes, shapes, progress and invalid-row counts)."""
        keys = ("teacher", "teacher_fingerprint", "corpus_fingerprint", "store_fingerprint", "teacher_sample_rate",
                "window_seconds", "hop_seconds", "last_window", "pooling", "dtype", "views", "view_augment",
                "package_version", "created", "complete")
        out = {k: self.attrs.get(k) for k in keys}
        out["views"] = self.views  # 0 for a store of plain windows (no view settings then)
        if not self.views:
            del out["view_augment"]
        done = sorted(self.done_shards())
        entries = [self.ledger_entry(s) for s in done]
        open_shards = set(range(self.layout.n_shards)) - set(done)
        committed = sum(e["stop"] - e["start"] for e in entries) + sum(
            c["stop"] - c["start"] for s in open_shards for c in self.progress(s))  # as recorded, not re-read
        out.update(url=self.url, n_clips=self.layout.n_clips, n_windows=self.layout.n_windows, dim=self.layout.dim,
                   chunk_rows=self.layout.chunk_rows, shard_rows=self.layout.shard_rows,
                   shards_done=len(done), n_shards=self.layout.n_shards, windows_committed=committed,
                   nan_rows=sum(e.get("nan_rows", 0) for e in entries),
                   zero_rows=sum(e.get("zero_rows", 0) for e in entries), disk_bytes=self.disk_bytes())
        if self.complete:
            out["invalid_clips"] = int((~self.array("clip_valid")[:]).sum())
        return out

    def disk_bytes(self) -> int:
        """Bytes the store's files take (arrays, metadata and ledger)."""
        return int(sum(self.fs.du(self.root, total=False).values()))


def clip_means(store: EmbeddingStore, block_rows: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each clip's valid stored plain windows (n_clips, dim) float64, and the valid-window count per clip."""
    layout = store.layout
    sums = np.zeros((layout.n_clips, layout.dim), dtype=np.float64)
    counts = np.zeros(layout.n_clips, dtype=np.int64)
    clip_of = store.array("window_clip")[:]
    plain = store.plain_rows()  # a clip's embedding is its own audio's: views are left out
    for start in range(0, layout.n_windows, block_rows):
        stop = min(start + block_rows, layout.n_windows)
        emb = store.array("window")[start:stop].astype(np.float64)  # (rows, dim)
        ok = store.array("window_valid")[start:stop] & plain[start:stop]
        np.add.at(sums, clip_of[start:stop][ok], emb[ok])
        counts += np.bincount(clip_of[start:stop][ok], minlength=layout.n_clips)
    return sums / np.maximum(counts, 1)[:, None], counts
