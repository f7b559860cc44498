"""One extraction: lock the store, take this rank's unfinished shards, run the teacher over their rows, finalise."""
from __future__ import annotations

import contextlib
import time

import fsspec
import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline import distributed
from pipeline.corpus import Corpus
from pipeline.embed.commits import CommitBuffer
from pipeline.embed.config import EmbedConfig, EmbedResult
from pipeline.embed.create import open_or_create, opens, store_meta
from pipeline.embed.report import REPORT, build_report, read_report
from pipeline.embed.windows import WindowDataset, plan_batches
from pipeline.locks import FileLock, LockHeld
from pipeline.store import require_reachable, store_url
from pipeline.teachers.base import Teacher


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
    """Embed the corpus with `teacher` into `<out_dir>/<fingerprint>` (`store_url`), resuming or reusing as possible."""
    info = info or distributed.DistInfo()
    require_reachable(out_dir)
    meta = store_meta(cfg, teacher, corpus)
    url = store_url(out_dir, meta["store_fingerprint"])
    found = opens(url)
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
