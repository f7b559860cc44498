"""The embedding store: one Zarr v3 group per (teacher, corpus, window settings).

Arrays, all aligned by row:
    window         (n_windows, dim)  float16/32  teacher embedding of each window
    window_valid   (n_windows,)      bool        False where the teacher gave NaN/Inf
    window_clip    (n_windows,)      int64       corpus row of each window
    window_start   (n_windows,)      int64       first sample (corpus rate) of each window
    window_length  (n_windows,)      int64       real (unpadded) samples in each window
    clip           (n_clips, dim)    float16/32  mean of the clip's valid windows (written at finalise)
    clip_valid     (n_clips,)        bool        the clip has at least one valid window
Work is split into shards of `shard_rows` window rows; a writer owns whole shards, and a shard counts as
written only once its ledger entry (`ledger/shard-NNNNNN.json`, with a checksum) exists. Inside an unfinished shard,
rows are committed in order: each commit is written, then recorded with its checksum in the shard's progress record
(`ledger/progress-NNNNNN.json`); a resumed run re-checks those rows and starts after them.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import zarr

from pipeline import __version__

FORMAT_VERSION = 1
EMBEDDING_ARRAYS = ("window", "clip")  # float arrays whose fill value (NaN) marks a missing chunk
COUNTS = ("nan_rows", "zero_rows", "rows")  # per-commit counts a shard's ledger entry sums


class StoreError(Exception):
    """The store is missing, incomplete, corrupt or built from something else."""


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
    """Short hash naming a store: teacher weights, corpus and window settings."""
    keys = ("teacher_fingerprint", "corpus_fingerprint", "teacher_sample_rate", "window_seconds",
            "hop_seconds", "last_window", "dtype", "pooling")
    blob = json.dumps({k: meta[k] for k in keys}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def shard_checksum(embeddings: np.ndarray, valid: np.ndarray) -> str:
    """sha256 over rows' stored bytes (embeddings then valid mask): a whole shard's, or one commit's."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(embeddings).tobytes())
    h.update(np.ascontiguousarray(valid, dtype=bool).tobytes())
    return h.hexdigest()


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
        """Create the arrays and write the window index; existing data at `url` is an error."""
        group = open_group(url, mode="w-")
        rows, chunk = (layout.n_windows, layout.dim), (layout.chunk_rows, layout.dim)
        shards = (layout.shard_rows, layout.dim) if layout.shard_rows > layout.chunk_rows else None
        codec = zarr.codecs.ZstdCodec(level=3)
        # NaN fill: a chunk file that goes missing reads back as NaN, never as plausible zeros; `read` then checks the
        # file is really absent (every chunk is written, see write_every_chunk) and refuses the rows
        group.create_array("window", shape=rows, dtype=layout.dtype, chunks=chunk, shards=shards,
                           compressors=codec, fill_value=np.nan)
        group.create_array("window_valid", shape=(layout.n_windows,), dtype=bool,
                           chunks=(layout.shard_rows,), fill_value=False)
        for name in ("window_clip", "window_start", "window_length"):
            group.create_array(name, data=np.asarray(index[name], dtype=np.int64),
                               chunks=(max(1, min(1 << 20, layout.n_windows)),))
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
        """Shards whose ledger entry exists."""
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
        if not self.fs.exists(self._progress_path(shard)):
            return []
        with self.fs.open(self._progress_path(shard), "r") as f:
            return json.load(f)["commits"]

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

    def info(self) -> dict:
        """A summary for `ssondo store info` (attributes, shapes, progress and invalid-row counts)."""
        keys = ("teacher", "teacher_fingerprint", "corpus_fingerprint", "store_fingerprint", "teacher_sample_rate",
                "window_seconds", "hop_seconds", "last_window", "pooling", "dtype", "package_version", "created",
                "complete")
        out = {k: self.attrs.get(k) for k in keys}
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
    """Mean of each clip's valid stored windows (n_clips, dim) float64, and the valid-window count per clip."""
    layout = store.layout
    sums = np.zeros((layout.n_clips, layout.dim), dtype=np.float64)
    counts = np.zeros(layout.n_clips, dtype=np.int64)
    clip_of = store.array("window_clip")[:]
    for start in range(0, layout.n_windows, block_rows):
        stop = min(start + block_rows, layout.n_windows)
        emb = store.array("window")[start:stop].astype(np.float64)  # (rows, dim)
        ok = store.array("window_valid")[start:stop]
        np.add.at(sums, clip_of[start:stop][ok], emb[ok])
        counts += np.bincount(clip_of[start:stop][ok], minlength=layout.n_clips)
    return sums / np.maximum(counts, 1)[:, None], counts


POINTER = "store.json"


def teacher_dir(root: str, teacher: str) -> str:
    """The folder (or URL) of `teacher`'s stores under a store root: `<root>/<teacher>`."""
    return f"{root.rstrip('/')}/{teacher}"


def write_pointer(out_dir: str, store: EmbeddingStore) -> None:
    """Record in `<out_dir>/store.json` which store (relative to out_dir) is the current one."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    if store.url.startswith(out_dir.rstrip("/") + "/"):
        rel = store.url[len(out_dir.rstrip("/")) + 1:]
    else:  # a store elsewhere (a shared root): a URL, or an absolute path that does not depend on the cwd
        rel = store.url if "://" in store.url else os.path.abspath(store.url)
    body = {"store": rel, "store_fingerprint": store.fingerprint, "teacher": store.attrs.get("teacher"),
            "corpus_fingerprint": store.attrs.get("corpus_fingerprint"), "dim": store.dim}
    fs.makedirs(root, exist_ok=True)
    with fs.open(f"{root}/{POINTER}.tmp", "w") as f:  # then moved over the pointer: a failed write leaves the old one
        json.dump(body, f, indent=2)
    fs.mv(f"{root}/{POINTER}.tmp", f"{root}/{POINTER}")


def current_url(out_dir: str) -> str:
    """The store that `<out_dir>/store.json` points to (a URL; relative entries resolve against out_dir)."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    path = f"{root}/{POINTER}"
    if not fs.exists(path):
        raise StoreError(f"{out_dir} has no {POINTER}: no finished embedding store there; run `ssondo embed`")
    with fs.open(path, "r") as f:
        rel = json.load(f)["store"]
    return rel if "://" in rel or rel.startswith("/") else f"{out_dir.rstrip('/')}/{rel}"


def open_current(out_dir: str, corpus_fingerprint: str | None = None) -> EmbeddingStore:
    """Open the complete store that `<out_dir>/store.json` points to (checked against the corpus)."""
    return EmbeddingStore.open(current_url(out_dir)).require_complete(corpus_fingerprint)


# -- verification (`ssondo store verify`) ----------------------------------------------------------

def verify_store(url: str, corpus_fingerprint: str | None = None) -> list[str]:
    """Re-check a store from its files: attributes, shapes, ledger, shard checksums, invalid rows, clip means.

    Returns every problem found, in words; an empty list means the store is sound.
    """
    try:
        store = EmbeddingStore.open(url)
    except Exception as exc:  # a corrupt zarr.json or layout raises decode/type errors, not only StoreError
        return [f"cannot open the store: {type(exc).__name__}: {exc}"]
    problems = _check_attrs(store, corpus_fingerprint)
    broken = _check_arrays(store, problems)
    if not broken & {"window", "window_valid"}:
        problems += _check_ledger(store)
    if not broken & {"window_clip", "window_start", "window_length"}:
        problems += _check_index(store)
    if store.complete and not broken:
        problems += _check_clips(store)
    return problems


def _check_attrs(store: EmbeddingStore, corpus_fingerprint: str | None) -> list[str]:
    attrs, problems = store.attrs, []
    if attrs.get("format_version") != FORMAT_VERSION:
        problems.append(f"format_version {attrs.get('format_version')} (this package reads {FORMAT_VERSION})")
    if not store.complete:
        problems.append("store is not marked complete; re-run `ssondo embed` to resume it")
    try:
        if store_fingerprint(attrs) != attrs.get("store_fingerprint"):
            problems.append("store_fingerprint does not match the store's own teacher/corpus/window attributes")
    except KeyError as exc:
        problems.append(f"attribute {exc} is missing")
    if corpus_fingerprint is not None and attrs.get("corpus_fingerprint") != corpus_fingerprint:
        problems.append(f"built from corpus {attrs.get('corpus_fingerprint')}, but the given corpus is "
                        f"{corpus_fingerprint}")
    return problems


def expected_arrays(layout: StoreLayout, complete: bool) -> dict[str, tuple[tuple[int, ...], str]]:
    """Array name -> (shape, dtype) a store with this layout must hold."""
    rows = {"window": ((layout.n_windows, layout.dim), layout.dtype), "window_valid": ((layout.n_windows,), "bool")}
    rows.update({k: ((layout.n_windows,), "int64") for k in ("window_clip", "window_start", "window_length")})
    if complete:
        rows.update(clip=((layout.n_clips, layout.dim), layout.dtype), clip_valid=((layout.n_clips,), "bool"))
    return rows


def _check_arrays(store: EmbeddingStore, problems: list[str]) -> set[str]:
    """Append shape/dtype problems; returns the names of arrays that are missing or wrong."""
    broken = set()
    for name, (shape, dtype) in expected_arrays(store.layout, store.complete).items():
        try:
            arr = store.group[name]
        except Exception as exc:  # missing or corrupt array zarr.json
            problems.append(f"array {name}: cannot open ({type(exc).__name__}: {exc})")
            broken.add(name)
            continue
        if tuple(arr.shape) != shape or np.dtype(arr.dtype) != np.dtype(dtype):
            problems.append(f"array {name}: {tuple(arr.shape)} {arr.dtype}, expected {shape} {dtype}")
            broken.add(name)
    return broken


def _check_ledger(store: EmbeddingStore) -> list[str]:
    n = store.layout.n_shards
    done = store.done_shards()
    problems = []
    if set(range(n)) - done:
        missing = sorted(set(range(n)) - done)
        problems.append(f"ledger: {len(missing)}/{n} shard(s) not written: {missing[:10]}")
    if done - set(range(n)):
        problems.append(f"ledger: entries for shards outside 0..{n - 1}: {sorted(done - set(range(n)))[:10]}")
    for shard in sorted(done & set(range(n))):
        problems += _check_shard(store, shard)
    return problems


def _check_shard(store: EmbeddingStore, shard: int) -> list[str]:
    """Recompute one shard's checksum from the stored bytes and re-count its invalid rows."""
    start, stop = store.layout.shard_range(shard)
    try:
        entry = store.ledger_entry(shard)
    except (OSError, ValueError) as exc:
        return [f"shard {shard}: unreadable ledger entry ({exc})"]
    try:
        emb = store.array("window")[start:stop]  # (rows, dim) in the stored dtype, as checksummed
        valid = store.array("window_valid")[start:stop]
    except Exception as exc:  # truncated or corrupt chunk files fail to decode
        return [f"shard {shard}: cannot decode rows {start}:{stop} ({type(exc).__name__}: {exc})"]
    problems = []
    if (entry.get("start"), entry.get("stop")) != (start, stop):
        problems.append(f"shard {shard}: ledger rows {entry.get('start')}:{entry.get('stop')}, layout {start}:{stop}")
    if shard_checksum(emb, valid) != entry.get("checksum"):
        problems.append(f"shard {shard}: checksum mismatch, stored rows {start}:{stop} differ from what was written")
    finite = np.isfinite(emb).all(axis=1)
    if not finite.all():
        problems.append(f"shard {shard}: {int((~finite).sum())} stored row(s) hold NaN/Inf")
    if np.any(emb[~valid] != 0):
        problems.append(f"shard {shard}: rows flagged invalid are not stored as zeros")
    flagged = int(entry.get("nan_rows", 0)) + int(entry.get("zero_rows", 0))
    if flagged != int((~valid).sum()):
        problems.append(f"shard {shard}: ledger counts {flagged} invalid row(s), the mask has {int((~valid).sum())}")
    return problems


def _check_index(store: EmbeddingStore) -> list[str]:
    clip_of = store.array("window_clip")[:]
    problems = []
    if len(clip_of) and (clip_of.min() < 0 or clip_of.max() >= store.layout.n_clips):
        problems.append(f"window_clip: values outside 0..{store.layout.n_clips - 1}")
    elif np.any(np.diff(clip_of) < 0):
        problems.append("window_clip: rows are not in corpus order")
    elif np.any(np.bincount(clip_of, minlength=store.layout.n_clips) == 0):
        problems.append("window_clip: some clips have no window")
    if np.any(store.array("window_start")[:] < 0) or np.any(store.array("window_length")[:] < 0):
        problems.append("window_start/window_length: negative values")
    return problems


def _check_clips(store: EmbeddingStore) -> list[str]:
    """The clip arrays must equal the mean of each clip's valid windows (up to the stored dtype's rounding)."""
    try:
        means, counts = clip_means(store)
        clip, clip_valid = store.array("clip")[:].astype(np.float64), store.array("clip_valid")[:]
    except Exception as exc:
        return [f"clip: cannot recompute clip means ({type(exc).__name__}: {exc})"]
    problems = []
    if not np.array_equal(clip_valid, counts > 0):
        problems.append(f"clip_valid: {int((clip_valid != (counts > 0)).sum())} clip(s) disagree with window_valid")
    eps = float(np.finfo(store.layout.dtype).eps)
    err = np.abs(clip - means) / np.maximum(np.abs(means), 1e-3)
    if not np.all(np.isfinite(clip)) or err.max(initial=0.0) > eps:
        problems.append(f"clip: differs from the mean of valid windows (max relative error {err.max():.3g})")
    return problems
