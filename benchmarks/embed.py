"""Embed-stage benchmark: teacher-bound throughput, store size, and training-side target reads.

    python -m benchmarks.embed [--corpus cache/corpus/corpus.h5] [--limit 300]

Measures, on a real corpus with the aisfx teacher:
1. pure teacher forward on pre-loaded, pre-resampled batches vs the whole stage (`extract` into a temp folder);
   the stage should keep the teacher busy (ratio >= 0.9);
2. store size on disk vs the same arrays as raw float32 (<= 0.55);
3. target rows/s: `load_targets` + random batch gathers vs one `.npz` per clip loaded per row (>= 10x).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from pipeline.corpus import Corpus, CorpusWriter
from pipeline.embed import EmbedConfig, WindowDataset, extract, shard_batches
from pipeline.store import EmbeddingStore
from pipeline.targets import load_targets
from pipeline.teachers.registry import build_teacher


def limited_corpus(path: str, limit: int | None, folder: Path) -> Corpus:
    """The corpus, or a copy of its first `limit` clips (same rate and sample format)."""
    corpus = Corpus(path)
    if not limit or limit >= len(corpus):
        return corpus
    writer = CorpusWriter(folder / "corpus.h5", corpus.sample_rate, corpus.sample_format)
    for row in range(limit):
        writer.append(f"clip{row}", corpus.clip(row))
    writer.close()
    return Corpus(folder / "corpus.h5")


def teacher_only(teacher, corpus: Corpus, cfg: EmbedConfig, store: EmbeddingStore) -> float:
    """Windows/s of `teacher.embed` alone, on the stage's own batches already read and resampled in memory."""
    index = {k: store.array(k)[:] for k in ("window_clip", "window_start", "window_length")}
    window = int(round(cfg.window_seconds * corpus.sample_rate))
    dataset = WindowDataset(corpus, index, window, int(teacher.sample_rate))
    batches = [default_collate([dataset[i] for i in b])[:2]
               for b in shard_batches(store.layout, list(range(store.layout.n_shards)), cfg.batch_size)]
    with torch.inference_mode():
        teacher.embed(*batches[0])  # warm-up (allocator, first-call overheads)
        start = time.perf_counter()
        for waves, reals in batches:
            teacher.embed(waves, reals)
    return store.layout.n_windows / (time.perf_counter() - start)


def whole_stage(teacher, corpus: Corpus, cfg: EmbedConfig, out: Path) -> tuple[float, EmbeddingStore]:
    """Windows/s of `extract` end to end: store creation, reading, resampling, teacher, writes, finalise."""
    start = time.perf_counter()
    result = extract(cfg, teacher, corpus, str(out))
    seconds = time.perf_counter() - start
    store = EmbeddingStore.open(result.url)
    return store.layout.n_windows / seconds, store


def size_ratio(store: EmbeddingStore) -> tuple[int, int]:
    """(bytes on disk, bytes of the same arrays held raw with float embeddings as float32)."""
    raw = 0
    for name in ("window", "window_valid", "window_clip", "window_start", "window_length", "clip", "clip_valid"):
        arr = store.array(name)
        itemsize = 4 if np.dtype(arr.dtype).kind == "f" else np.dtype(arr.dtype).itemsize
        raw += int(np.prod(arr.shape)) * itemsize
    return store.disk_bytes(), raw


def target_reads(store: EmbeddingStore, level: str, folder: Path, batches: int, batch: int) -> tuple[float, float]:
    """Rows/s of (load_targets + random gathers) and of one `.npz` per row loaded per row, same draws."""
    rows = np.random.default_rng(0).integers(0, store.array(level).shape[0], size=(batches, batch))
    start = time.perf_counter()
    targets = load_targets([store], level)
    for draw in rows:
        targets.get(draw)
    store_rate = rows.size / (time.perf_counter() - start)
    table = store.array(level)[:].astype(np.float32)  # (rows, dim)
    folder.mkdir(parents=True, exist_ok=True)
    for i, vec in enumerate(table):
        np.savez(folder / f"{i}.npz", embedding=vec)
    start = time.perf_counter()
    for draw in rows:
        torch.from_numpy(np.stack([np.load(folder / f"{i}.npz")["embedding"] for i in draw]))
    return store_rate, rows.size / (time.perf_counter() - start)


def main() -> None:
    """Run the three measurements and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="cache/corpus/corpus.h5")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N clips")
    parser.add_argument("--window-seconds", type=float, default=4.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = EmbedConfig(teacher="aisfx", window_seconds=args.window_seconds, hop_seconds=args.window_seconds,
                      batch_size=args.batch_size, workers=args.workers, device=args.device)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = limited_corpus(args.corpus, args.limit, Path(tmp))
        teacher = build_teacher("aisfx", {})
        stage_rate, store = whole_stage(teacher, corpus, cfg, Path(tmp) / "emb")
        pure_rate = teacher_only(teacher.to("cpu"), corpus, cfg, store)
        disk, raw = size_ratio(store)
        clip_rates = target_reads(store, "clip", Path(tmp) / "npz_clip", 20, 256)
        window_rates = target_reads(store, "window", Path(tmp) / "npz_window", 20, 256)
    n = f"{len(corpus)} clips, {store.layout.n_windows} windows of {args.window_seconds:g} s, dim {store.dim}"
    rows = [("teacher forward only (windows/s)", f"{pure_rate:.2f}", ""),
            ("whole embed stage (windows/s)", f"{stage_rate:.2f}", ""),
            ("stage / teacher", f"{stage_rate / pure_rate:.3f}", ">= 0.9"),
            ("store on disk (MB)", f"{disk / 1e6:.3f}", ""),
            ("same arrays raw float32 (MB)", f"{raw / 1e6:.3f}", ""),
            ("disk / raw float32", f"{disk / raw:.3f}", "<= 0.55"),
            ("clip targets: load_targets+gather (rows/s)", f"{clip_rates[0]:,.0f}", ""),
            ("clip targets: npz per clip (rows/s)", f"{clip_rates[1]:,.0f}", ""),
            ("clip targets speed-up", f"{clip_rates[0] / clip_rates[1]:.1f}x", ">= 10x"),
            ("window targets: load_targets+gather (rows/s)", f"{window_rates[0]:,.0f}", ""),
            ("window targets: npz per window (rows/s)", f"{window_rates[1]:,.0f}", ""),
            ("window targets speed-up", f"{window_rates[0] / window_rates[1]:.1f}x", ">= 10x")]
    print(f"embed benchmark: aisfx on {n}, {torch.get_num_threads()} torch threads, workers {args.workers}, "
          f"device {cfg.device}")
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'value':>12}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>12}  {target}")


if __name__ == "__main__":
    main()
