"""Peak memory and wall time of `ssondo cluster` on generated stores of growing size (a script, not a test).

    python -m benchmarks.cluster [--sizes 20000 80000 320000] [--dim 512] [--k 50]

Each size runs in a fresh subprocess; peak RSS is that process's VmHWM (ru_maxrss would inherit the
parent's peak across fork+exec). Target: peak RSS at 16x the rows <= 1.5x the peak at 1x.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from pipeline.store import EmbeddingStore, StoreLayout, store_fingerprint


def synthetic_store(url: str, n: int, dim: int, centres: int, seed: int = 0) -> EmbeddingStore:
    """A complete float16 store of `n` clips (one window each) drawn around `centres` random points, shard by shard."""
    layout = StoreLayout(n_clips=n, n_windows=n, dim=dim, dtype="float16", chunk_rows=1024, shard_rows=8192)
    meta = {"teacher": "synth", "teacher_fingerprint": "bench", "corpus_fingerprint": f"bench-{n}",
            "teacher_sample_rate": 16000, "window_seconds": 10.0, "hop_seconds": 10.0, "last_window": "pad",
            "dtype": "float16", "pooling": "mean"}
    meta["store_fingerprint"] = store_fingerprint(meta)
    index = {"window_clip": np.arange(n), "window_start": np.zeros(n, np.int64), "window_length": np.ones(n, np.int64)}
    store = EmbeddingStore.create(url, layout, meta, index)
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((centres, dim)).astype(np.float32)
    for shard in range(layout.n_shards):
        start, stop = layout.shard_range(shard)
        which = rng.integers(0, centres, size=stop - start)
        x = means[which] + 0.7 * rng.standard_normal((stop - start, dim), dtype=np.float32)  # (rows, dim)
        store.write_shard(shard, x, np.ones(stop - start, dtype=bool), {})
    store.finalise()
    return store


def peak_rss() -> int:
    """This process's peak resident set size in bytes."""
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM")).split()[1]) * 1024


def child(url: str, k: int, out: str) -> None:
    """Run one clustering (fit, predict, metrics, outputs) and print its cost as JSON."""
    import pandas as pd
    import psutil

    from pipeline.cluster.build import build_index, save_outputs
    from pipeline.cluster.config import ClusterConfig

    store = EmbeddingStore.open(url)
    manifest = pd.DataFrame({"clip_id": [f"c{i}" for i in range(store.layout.n_clips)]})
    before = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    result = build_index(store, manifest, ClusterConfig(teacher="synth", k=k))
    save_outputs(result, manifest, out)
    wall = time.perf_counter() - t0
    print(json.dumps({"wall": wall, "before": before, "peak": peak_rss(),
                      "silhouette": result.metrics["silhouette"]}))


def measure(url: str, k: int, threads: int, out: str) -> dict:
    """Cost of clustering one store in a fresh process."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cluster", "--child", url, "--k", str(k), "--out", out],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Build each store, measure it, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20000, 80000, 320000])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.k, args.out)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            url = f"{tmp}/store-{n}"
            synthetic_store(url, n, args.dim, centres=args.k)
            rows.append(dict(measure(url, args.k, args.threads, f"{tmp}/out-{n}"), n=n))
            print(f"  done {n} rows", file=sys.stderr, flush=True)
    print_table(rows, args.dim)


def print_table(rows: list[dict], dim: int) -> None:
    """Rows, store size, wall time and peak RSS, each also as a ratio to the smallest run."""
    base = rows[0]
    mb = 1 << 20
    print(f"{'rows':>8} {'f32 MB':>8} {'wall s':>8} {'peak MB':>8} {'growth MB':>10} {'rows x':>7} "
          f"{'time x':>7} {'peak x':>7} {'silhouette':>10}")
    for r in rows:
        print(f"{r['n']:>8} {r['n'] * dim * 4 / mb:>8.0f} {r['wall']:>8.1f} {r['peak'] / mb:>8.0f} "
              f"{(r['peak'] - r['before']) / mb:>10.1f} {r['n'] / base['n']:>7.0f} {r['wall'] / base['wall']:>7.2f} "
              f"{r['peak'] / base['peak']:>7.2f} {r['silhouette']:>10.3f}")


if __name__ == "__main__":
    main()
