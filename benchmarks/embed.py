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
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from benchmarks.common import Clock, print_measures
from pipeline import distributed
from pipeline.corpus import Corpus, CorpusWriter
from pipeline.embed import EmbedConfig, WindowDataset, extract, plan_batches
from pipeline.store import EmbeddingStore
from pipeline.teachers.registry import build_teacher
from pipeline.train.targets import load_targets


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


def teacher_only(teacher, corpus: Corpus, cfg: EmbedConfig, store: EmbeddingStore) -> Clock:
    """Wall/CPU time of `teacher.embed` alone, on the stage's own batches already read, resampled and on the device."""
    device = distributed.pick_device(cfg.device)
    index = {k: store.array(k)[:] for k in ("window_clip", "window_start", "window_length")}
    window = int(round(cfg.window_seconds * corpus.sample_rate))
    dataset = WindowDataset(corpus, index, window, int(teacher.sample_rate))
    batches = [[t.to(device) for t in default_collate([dataset[i] for i in b])[:2]]
               for b in plan_batches(store.layout, [(0, store.layout.n_windows)], cfg.batch_size)]
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if (cfg.bf16 and device.type == "cuda") \
        else contextlib.nullcontext()
    teacher.to(device)
    with torch.inference_mode(), autocast:
        teacher.embed(*batches[0])  # warm-up (allocator, first-call overheads)
        sync(device)
        with Clock() as clock:
            for waves, reals in batches:
                teacher.embed(waves, reals).float().cpu()  # the stage also copies each batch back
            sync(device)
    return clock


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so timings are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def whole_stage(teacher, corpus: Corpus, cfg: EmbedConfig, out: Path) -> tuple[Clock, EmbeddingStore]:
    """Wall/CPU time of `extract` end to end: store creation, reading, resampling, teacher, writes, finalise."""
    with Clock() as clock:
        result = extract(cfg, teacher, corpus, str(out))
    return clock, EmbeddingStore.open(result.url)


def size_ratio(store: EmbeddingStore) -> tuple[int, int]:
    """(bytes on disk, bytes of the same arrays held raw with float embeddings as float32)."""
    raw = 0
    for name in ("window", "window_valid", "window_clip", "window_start", "window_length", "clip", "clip_valid"):
        arr = store.array(name)
        itemsize = 4 if np.dtype(arr.dtype).kind == "f" else np.dtype(arr.dtype).itemsize
        raw += int(np.prod(arr.shape)) * itemsize
    return store.disk_bytes(), raw


def target_reads(store: EmbeddingStore, level: str, folder: Path, batches: int, batch: int) -> dict[str, float]:
    """Rows/s of (load_targets + random gathers) at the current and at 1 torch thread, and of one `.npz` per row."""
    rows = np.random.default_rng(0).integers(0, store.array(level).shape[0], size=(batches, batch))
    rates = {"store": store_reads(store, level, rows)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rates["store_1"] = store_reads(store, level, rows)
    torch.set_num_threads(threads)
    table = store.array(level)[:].astype(np.float32)  # (rows, dim)
    folder.mkdir(parents=True, exist_ok=True)
    for i, vec in enumerate(table):
        np.savez(folder / f"{i}.npz", embedding=vec)
    start = time.perf_counter()
    for draw in rows:
        torch.from_numpy(np.stack([np.load(folder / f"{i}.npz")["embedding"] for i in draw]))
    rates["npz"] = rows.size / (time.perf_counter() - start)
    return rates


def store_reads(store: EmbeddingStore, level: str, rows: np.ndarray) -> float:
    """Rows/s of `load_targets` then one `get` per batch of draws."""
    start = time.perf_counter()
    targets = load_targets([store], level)
    for draw in rows:
        targets.get(draw)
    return rows.size / (time.perf_counter() - start)


def table(pure: list[Clock], stage: list[Clock], store: EmbeddingStore, targets: dict) -> list[tuple]:
    """(measure, value, target) rows from the measurements; throughputs use each side's best run."""
    n = store.layout.n_windows
    wall = [n / min(c.wall for c in clocks) for clocks in (pure, stage)]  # windows/s
    cpu = [n / min(c.cpu for c in clocks) for clocks in (pure, stage)]  # windows per CPU-second
    disk, raw = size_ratio(store)
    rows = [("teacher forward only (windows/s)", f"{wall[0]:.2f}", ""),
            ("whole embed stage (windows/s)", f"{wall[1]:.2f}", ""),
            ("stage / teacher, wall clock", f"{wall[1] / wall[0]:.3f}", ">= 0.9"),
            ("teacher forward only (windows/CPU-s)", f"{cpu[0]:.2f}", ""),
            ("whole embed stage (windows/CPU-s)", f"{cpu[1]:.2f}", ""),
            ("stage / teacher, CPU time", f"{cpu[1] / cpu[0]:.3f}", ">= 0.9"),
            ("store on disk (MB)", f"{disk / 1e6:.3f}", ""),
            ("same arrays raw float32 (MB)", f"{raw / 1e6:.3f}", ""),
            ("disk / raw float32", f"{disk / raw:.3f}", "<= 0.55")]
    for level, rates in targets.items():
        rows += [(f"{level} targets: load_targets+gather (rows/s)", f"{rates['store']:,.0f}", ""),
                 (f"{level} targets: same, 1 torch thread (rows/s)", f"{rates['store_1']:,.0f}", ""),
                 (f"{level} targets: one npz per {level} (rows/s)", f"{rates['npz']:,.0f}", ""),
                 (f"{level} targets speed-up", f"{rates['store'] / rates['npz']:.1f}x", ">= 10x"),
                 (f"{level} targets speed-up, 1 torch thread", f"{rates['store_1'] / rates['npz']:.1f}x", ">= 10x")]
    return rows


def run(corpus_path: str, folder: Path, limit: int | None = None, window_seconds: float = 4.0,
        batch_size: int = 16, workers: int = 1, device: str = "auto", repeats: int = 2) -> dict:
    """All three measurements in `folder` (the last store stays there); returns the figures and table rows."""
    cfg = EmbedConfig(teacher="aisfx", window_seconds=window_seconds, hop_seconds=window_seconds,
                      batch_size=batch_size, workers=workers, device=device)
    corpus = limited_corpus(corpus_path, limit, folder)
    teacher = build_teacher("aisfx", {})
    stage, pure = [], []
    for r in range(repeats):  # alternate, keep the best of each: the machine may be shared
        clock, store = whole_stage(teacher, corpus, cfg, folder / f"emb{r}")
        stage.append(clock)
        pure.append(teacher_only(teacher, corpus, cfg, store))
    targets = {level: target_reads(store, level, folder / f"npz_{level}", 50, 256) for level in ("clip", "window")}
    n = store.layout.n_windows
    disk, raw = size_ratio(store)
    return {"rows": table(pure, stage, store, targets), "corpus": corpus, "store": store, "cfg": cfg,
            "clips": len(corpus), "windows": n, "dim": store.dim,
            "stage_over_teacher_wall": min(c.wall for c in pure) / min(c.wall for c in stage),
            "stage_over_teacher_cpu": min(c.cpu for c in pure) / min(c.cpu for c in stage),
            "disk_over_raw": disk / raw,
            "targets_speedup": {level: rates["store"] / rates["npz"] for level, rates in targets.items()}}


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
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of both throughputs; best kept")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = run(args.corpus, Path(tmp), args.limit, args.window_seconds, args.batch_size, args.workers,
                  args.device, args.repeats)
    print(f"embed benchmark: aisfx on {out['clips']} clips, {out['windows']} windows of "
          f"{args.window_seconds:g} s, dim {out['dim']}; {torch.get_num_threads()} torch threads, workers "
          f"{args.workers}, device {out['cfg'].device}, best of {args.repeats}")
    rows = out["rows"]
    print_measures(rows, 12)


if __name__ == "__main__":
    main()
