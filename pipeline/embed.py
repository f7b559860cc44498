"""Run one teacher over every window of the corpus, once, into a resumable embedding store."""
from __future__ import annotations

import contextlib
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import fsspec
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate
from tqdm import tqdm

from pipeline import distributed
from pipeline.audio.decode import resample
from pipeline.audio.views import Renderer, ViewAugment, draw_views, view_seed
from pipeline.audio.windows import window_starts
from pipeline.config import check
from pipeline.corpus import Corpus
from pipeline.locks import FileLock, LockHeld
from pipeline.store import EmbeddingStore, StoreError, StoreLayout, store_fingerprint
from pipeline.teachers.base import Teacher

REPORT = "report.json"  # inside the store folder, so a reused store returns its own report


@dataclass(frozen=True)
class EmbedConfig:
    """Settings of one teacher's extraction (params section `embed` plus `audio` windows)."""

    teacher: str = "aisfx"
    teacher_options: dict = field(default_factory=dict)
    window_seconds: float = 2.0
    hop_seconds: float = 1.0
    last_window: Literal["pad", "drop"] = "pad"
    dtype: Literal["float16", "float32"] = "float16"
    batch_size: int = 16
    workers: int = 1
    chunk_rows: int = 1024
    shard_rows: int = 4096
    commit_seconds: float = 60.0
    device: str = "auto"
    bf16: bool = True
    views: int = 0                                # augmented views per clip, embedded after its plain windows
    view_augment: ViewAugment = ViewAugment()     # what a view's augmentations are (pipeline/audio/views.py)

    def __post_init__(self):
        check(self.window_seconds > 0, "audio.window_seconds", f"must be > 0, got {self.window_seconds}")
        check(self.hop_seconds > 0, "audio.hop_seconds", f"must be > 0, got {self.hop_seconds}")
        check(self.batch_size >= 1, "embed.batch_size", f"must be >= 1, got {self.batch_size}")
        check(self.workers >= 0, "embed.workers", f"must be >= 0, got {self.workers}")
        check(self.chunk_rows >= 1, "embed.chunk_rows", f"must be >= 1, got {self.chunk_rows}")
        check(self.shard_rows >= self.chunk_rows and self.shard_rows % self.chunk_rows == 0, "embed.shard_rows",
              f"must be a multiple of chunk_rows ({self.chunk_rows}), got {self.shard_rows}")
        check(self.commit_seconds > 0, "embed.commit_seconds", f"must be > 0, got {self.commit_seconds}")
        check(self.views >= 0, "embed.views", f"must be >= 0, got {self.views}")


@dataclass(frozen=True)
class EmbedResult:
    """Where the store is and what this run did."""

    url: str
    fingerprint: str
    reused: bool
    report: dict


def window_index(lengths: np.ndarray, window: int, hop: int, last: str) -> dict[str, np.ndarray]:
    """Row-aligned window arrays (clip, start, real length) for all clips, in corpus order."""
    clips, starts, reals = [], [], []
    for row, n in enumerate(lengths):
        s = window_starts(int(n), window, hop, last)
        clips.append(np.full(len(s), row, dtype=np.int64))
        starts.append(s)
        reals.append(np.clip(int(n) - s, 0, window))
    return {"window_clip": np.concatenate(clips), "window_start": np.concatenate(starts),
            "window_length": np.concatenate(reals).astype(np.int64)}


def with_views(index: dict[str, np.ndarray], views: dict[str, np.ndarray], lengths: np.ndarray,
               window: int) -> dict[str, np.ndarray]:
    """The window index with each clip's views after its plain windows (rows stay sorted by clip), plus the
    row-aligned view table: window_view (-1: plain window), view_partner (-1: no mix), view_params."""
    n_plain = len(index["window_clip"])
    reals = np.clip(lengths[views["clip"]] - views["start"], 0, window).astype(np.int64)
    merged = {"window_clip": np.concatenate([index["window_clip"], views["clip"]]),
              "window_start": np.concatenate([index["window_start"], views["start"]]),
              "window_length": np.concatenate([index["window_length"], reals]),
              "window_view": np.concatenate([np.full(n_plain, -1, np.int64), views["view"]]),
              "view_partner": np.concatenate([np.full(n_plain, -1, np.int64), views["partner"]]),
              "view_params": np.concatenate([np.zeros((n_plain, views["params"].shape[1])), views["params"]])}
    order = np.lexsort((np.concatenate([np.arange(n_plain), n_plain + views["view"]]), merged["window_clip"]))
    return {k: v[order] for k, v in merged.items()}


class WindowDataset(Dataset):
    """Item = one window read at the corpus rate and resampled to the teacher rate (runs in workers)."""

    def __init__(self, corpus: Corpus, index: dict[str, np.ndarray], window: int, teacher_rate: int):
        self.corpus, self.index, self.window = corpus, index, window
        self.render = Renderer(corpus, index, window)  # a plain window, or a view rebuilt from its parameters
        self.rate = teacher_rate
        self.out_len = int(round(window * teacher_rate / corpus.sample_rate))

    def __len__(self) -> int:
        return len(self.index["window_clip"])

    def __getitem__(self, i: int):
        wave = resample(self.render(i), self.corpus.sample_rate, self.rate)
        out = np.zeros(self.out_len, dtype=np.float32)
        out[: min(len(wave), self.out_len)] = wave[: self.out_len]
        real = int(round(int(self.index["window_length"][i]) * self.rate / self.corpus.sample_rate))
        return torch.from_numpy(out), min(max(real, 1), self.out_len), i


def plan_batches(layout: StoreLayout, ranges: list[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Batches over row ranges that never cross a chunk boundary, laid out from each chunk's first row: a chunk's bits
    never depend on its neighbours, and a range resumed after a commit (always made between batches) starts where an
    unbroken run with the same batch size starts a batch."""
    batches = []
    for lo, hi in ranges:
        for chunk in range(lo - lo % layout.chunk_rows, hi, layout.chunk_rows):
            end = min(chunk + layout.chunk_rows, hi)
            batches += [list(range(s, min(s + batch_size, end))) for s in range(max(lo, chunk), end, batch_size)]
    return batches


def store_meta(cfg: EmbedConfig, teacher: Teacher, corpus: Corpus) -> dict:
    """Store attributes; they also decide the store's fingerprint (its folder name)."""
    meta = {"teacher": teacher.name, "teacher_fingerprint": teacher.fingerprint,
            "teacher_sample_rate": int(teacher.sample_rate), "corpus_fingerprint": corpus.fingerprint,
            "corpus_sample_rate": corpus.sample_rate, "window_seconds": cfg.window_seconds,
            "hop_seconds": cfg.hop_seconds, "last_window": cfg.last_window, "dtype": cfg.dtype, "pooling": "mean"}
    if cfg.views:  # absent without views: stores made before views existed keep their fingerprints
        meta.update(views=cfg.views, view_augment=cfg.view_augment.settings())
    meta["store_fingerprint"] = store_fingerprint(meta)
    return meta


def _opens(url: str) -> EmbeddingStore | None:
    """The store at `url`, or None while there is none or its creation has not finished."""
    fs, root = fsspec.core.url_to_fs(url)
    if not fs.exists(f"{root}/zarr.json"):
        return None
    try:
        return EmbeddingStore.open(url)
    except (StoreError, ValueError):  # attrs are written last by `create`; a kill before leaves no layout
        return None


def open_or_create(url: str, cfg: EmbedConfig, meta: dict, corpus: Corpus, dim: int,
                   info: distributed.DistInfo) -> EmbeddingStore:
    """Rank 0 creates the store if needed (replacing one whose creation was cut off); every rank then opens it."""
    fs, root = fsspec.core.url_to_fs(url)
    if info.is_main and _opens(url) is None:
        if fs.exists(f"{root}/ledger"):  # shards were written, so creation had finished: this is damage
            raise StoreError(f"{url} holds written shards but cannot be opened; inspect it with "
                             f"`ssondo store verify {url}` or delete it to start over")
        if fs.exists(root):
            fs.rm(root, recursive=True)
        window = int(round(cfg.window_seconds * corpus.sample_rate))
        hop = int(round(cfg.hop_seconds * corpus.sample_rate))
        index = window_index(corpus.lengths, window, hop, cfg.last_window)
        if cfg.views:
            drawn = draw_views(corpus.lengths, cfg.views, window, corpus.sample_rate, cfg.view_augment,
                               view_seed(corpus.fingerprint, cfg.view_augment))
            index = with_views(index, drawn, corpus.lengths, window)
        layout = StoreLayout(len(corpus), len(index["window_clip"]), dim, cfg.dtype, cfg.chunk_rows, cfg.shard_rows)
        EmbeddingStore.create(url, layout, meta, index)
    distributed.barrier()
    return EmbeddingStore.open(url, mode="r+")


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

    def __init__(self, store: EmbeddingStore, commit_seconds: float):
        self.store, self.commit_seconds = store, commit_seconds
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


def run_teacher(teacher: Teacher, loader: DataLoader, buffer: CommitBuffer, device: torch.device, bf16: bool,
                total: int, reused: int) -> int:
    """Forward every batch of the loader through the teacher; returns the number of windows embedded."""
    done = 0
    with torch.inference_mode(), tqdm(total=total, initial=reused, desc=f"embed {teacher.name}", unit="win",
                                      mininterval=1.0) as bar:
        for waves, reals, rows in loader:
            with distributed.autocast(device, bf16):
                emb = teacher.embed(waves.to(device, non_blocking=True), reals.to(device))
            buffer.add(rows.numpy(), emb.float().cpu().numpy())
            done += len(rows)
            bar.update(len(rows))
    return done


def extract(cfg: EmbedConfig, teacher: Teacher, corpus: Corpus, out_dir: str,
            info: distributed.DistInfo | None = None) -> EmbedResult:
    """Embed the corpus with `teacher` into `<out_dir>/stores/<fingerprint>`, resuming or reusing as possible."""
    info = info or distributed.DistInfo()
    meta = store_meta(cfg, teacher, corpus)
    url = f"{out_dir.rstrip('/')}/stores/{meta['store_fingerprint']}"
    found = _opens(url)
    if found is not None and found.complete:  # stores without a saved report get their whole-store counts
        report = read_report(url) or build_report(found, corpus, 0, found.layout.n_windows, 0.0, 0.0)
        return EmbedResult(url, meta["store_fingerprint"], True, report)
    with contextlib.ExitStack() as stack:
        _lock_all_ranks(stack, url, info)
        report = _extract_locked(cfg, teacher, corpus, url, meta, info)
    return EmbedResult(url, meta["store_fingerprint"], False, report)


def _lock_all_ranks(stack: contextlib.ExitStack, url: str, info: distributed.DistInfo) -> None:
    """Rank 0 takes the store's file lock; if it cannot, every rank raises LockHeld (none waits in a barrier)."""
    fs, root = fsspec.core.url_to_fs(url)
    held = None
    if info.is_main and fs.protocol in ("file", ("file", "local")):
        try:
            stack.enter_context(FileLock(f"{root}.lock", f"store {url}"))
        except LockHeld as exc:
            held = exc
    if distributed.all_reduce_sum(float(held is not None)) > 0:
        raise held or LockHeld(f"store {url} is being written by another process (rank 0 could not lock it)")


def _extract_locked(cfg, teacher, corpus, url, meta, info) -> dict:
    device = distributed.pick_device(cfg.device)
    store = open_or_create(url, cfg, meta, corpus, int(teacher.embed_dim), info)
    layout = store.layout
    mine = [s for s in range(layout.n_shards) if s % info.world == info.rank and s not in store.done_shards()]
    ranges = [(store.resume_row(s), layout.shard_range(s)[1]) for s in mine]  # re-checks every committed row
    for shard, (lo, hi) in zip(mine, ranges):
        if lo == hi:  # all rows committed by a run killed before it closed the shard
            store.close_shard(shard)
    ranges = [(lo, hi) for lo, hi in ranges if lo < hi]
    index = store.row_index()
    window = int(round(cfg.window_seconds * corpus.sample_rate))
    dataset = WindowDataset(corpus, index, window, int(teacher.sample_rate))
    loader = DataLoader(dataset, batch_sampler=plan_batches(layout, ranges, cfg.batch_size),
                        num_workers=cfg.workers, pin_memory=device.type == "cuda",
                        persistent_workers=False, prefetch_factor=4 if cfg.workers else None)
    teacher.to(device)
    t0 = time.perf_counter()
    todo = np.concatenate([np.arange(lo, hi) for lo, hi in ranges] or [np.zeros(0, np.int64)])
    owned = sum(hi - lo for lo, hi in map(layout.shard_range, mine))
    with CommitBuffer(store, cfg.commit_seconds) as buffer:
        n = run_teacher(teacher, loader, buffer, device, cfg.bf16, owned, owned - len(todo))
    seconds = time.perf_counter() - t0
    real_audio = float(index["window_length"][todo].sum()) / corpus.sample_rate
    reused = layout.n_windows - int(distributed.all_reduce_sum(float(n)))  # every row not embedded now was reused
    distributed.barrier()
    report = {}
    if info.is_main:
        store.finalise()
        report = build_report(store, corpus, n, reused, real_audio, seconds)
        store.write_json(REPORT, report)
    return report


def build_report(store: EmbeddingStore, corpus: Corpus, windows_run: int, windows_reused: int, run_audio: float,
                 seconds: float) -> dict:
    """Summary of a finished store (this run's throughput on this rank, rows reused from earlier runs on all ranks,
    plus whole-store counts)."""
    entries = [store.ledger_entry(s) for s in sorted(store.done_shards())]
    audio_s = float(corpus.lengths.sum()) / corpus.sample_rate
    return {"teacher": store.attrs["teacher"], "store": store.url, "store_fingerprint": store.fingerprint,
            "clips": store.layout.n_clips, "windows": store.layout.n_windows, "dim": store.layout.dim,
            "views": store.views, "view_rows": store.views * store.layout.n_clips,
            "audio_seconds": audio_s, "windows_this_run": windows_run, "windows_reused": windows_reused,
            "seconds_this_run": seconds, "windows_per_second": windows_run / seconds if seconds > 0 else None,
            "realtime_factor": run_audio / seconds if seconds > 0 else None,
            "nan_rows": sum(e["nan_rows"] for e in entries), "zero_rows": sum(e["zero_rows"] for e in entries),
            "invalid_clips": int((~store.array("clip_valid")[:]).sum())}


def read_report(url: str) -> dict:
    """The report written by the run that finished the store at `url` (empty if none)."""
    fs, root = fsspec.core.url_to_fs(f"{url.rstrip('/')}/{REPORT}")
    if not fs.exists(root):
        return {}
    with fs.open(root, "r") as f:
        return json.load(f)


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
