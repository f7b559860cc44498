"""One extraction: claim unfinished shards one at a time, run the teacher over their rows, finalise once.

Writers never lock a whole store: each takes shards by claim (`pipeline.store.claims`), so two runs on one store,
on one disk or on an object store, split the shards between them, and a run that finds every unfinished shard
held waits and says by whom. Under torchrun every rank is such a writer, its own share of shards first.
"""
from __future__ import annotations

import time

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline import distributed
from pipeline.corpus import Corpus
from pipeline.embed.claiming import claimed_shards, finalise_once, shard_claim
from pipeline.embed.commits import CommitBuffer
from pipeline.embed.config import EmbedConfig, EmbedResult
from pipeline.embed.create import open_or_create, opens, store_meta
from pipeline.embed.report import REPORT, build_report, read_report
from pipeline.embed.windows import WindowDataset, plan_batches
from pipeline.store import EmbeddingStore, StoreError, remote_errors, require_reachable, store_url
from pipeline.store.claims import Claims
from pipeline.teachers.base import Teacher


def run_teacher(teacher: Teacher, loader: DataLoader, buffer: CommitBuffer, device: torch.device, bf16: bool,
                bar: tqdm) -> int:
    """Forward every batch of the loader through the teacher; returns the number of windows embedded."""
    done = 0
    with torch.inference_mode():
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
    try:
        with Claims(url, cfg.claim_seconds) as claims:
            store = open_or_create(url, cfg, meta, corpus, int(teacher.embed_dim), info, claims)
            report = _extract_claimed(cfg, teacher, corpus, store, info, claims)
    except remote_errors() as exc:  # reads, listings and claims (writes say which rows they were: StoreError)
        raise StoreError(f"store {url}: the storage failed ({type(exc).__name__}: {exc}); every commit recorded "
                         f"before is kept: once the endpoint, credentials or network are back, re-run `ssondo embed` "
                         f"to resume") from exc
    return EmbedResult(url, meta["store_fingerprint"], False, report)


def _extract_claimed(cfg: EmbedConfig, teacher: Teacher, corpus: Corpus, store: EmbeddingStore,
                     info: distributed.DistInfo, claims: Claims) -> dict:
    device = distributed.pick_device(cfg.device)
    layout, index = store.layout, store.row_index()
    window = int(round(cfg.window_seconds * corpus.sample_rate))
    dataset = WindowDataset(corpus, index, window, int(teacher.sample_rate))
    teacher.to(device)
    t0, n, real_audio = time.perf_counter(), 0, 0.0
    finished = sum(hi - lo for lo, hi in map(layout.shard_range, store.done_shards()))
    with tqdm(total=layout.n_windows, initial=finished, desc=f"embed {teacher.name}", unit="win",
              mininterval=1.0) as bar:
        for shard in claimed_shards(store, claims, lambda s: s % info.world == info.rank):
            name, (start, hi) = shard_claim(shard), layout.shard_range(shard)
            lo = store.resume_row(shard)  # re-checks every committed row
            bar.update(lo - start)
            if lo < hi:
                loader = DataLoader(dataset, batch_sampler=plan_batches(layout, [(lo, hi)], cfg.batch_size),
                                    num_workers=cfg.workers, pin_memory=device.type == "cuda",
                                    prefetch_factor=4 if cfg.workers else None)
                with CommitBuffer(store, cfg.commit_seconds, lambda: claims.require(name)) as buffer:
                    n += run_teacher(teacher, loader, buffer, device, cfg.bf16, bar)
                real_audio += float(index["window_length"][lo:hi].sum()) / corpus.sample_rate
            else:  # all rows committed by a run killed before it closed the shard
                store.close_shard(shard)
            claims.require(name)
            claims.release(name)
    seconds = time.perf_counter() - t0
    reused = layout.n_windows - int(distributed.all_reduce_sum(float(n)))  # rows earlier or concurrent runs wrote
    distributed.barrier()
    report = {}
    if info.is_main:
        finalised = finalise_once(store, claims)  # False: a concurrent writer finalised it (and keeps its report)
        report = build_report(EmbeddingStore.open(store.url), corpus, n, reused, real_audio, seconds)
        if finalised:
            store.write_json(REPORT, report)
    return report
