"""Peak memory of a streaming run follows the block size, not the store size."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from cluster_synth import write_store

# the child process: open the store, note RSS, cluster it, report the peak RSS growth
CHILD = """
import json, sys
import psutil
from cluster_synth import manifest_for
from pipeline.cluster.build import build_index
from pipeline.cluster.config import ClusterConfig
from pipeline.store import EmbeddingStore
cfg = ClusterConfig(teacher="synth", k=8, batch_size=1024, chunk_rows=1024, init_size=1000, passes=2,
                    metric_sample=500, map_sample=100)
small = EmbeddingStore.open(sys.argv[2])
build_index(small, manifest_for(small.layout.n_clips), cfg)  # warm-up: lazy imports, thread pools, allocator
store = EmbeddingStore.open(sys.argv[1])
manifest = manifest_for(store.layout.n_clips)
before = psutil.Process().memory_info().rss
result = build_index(store, manifest, cfg)
# VmHWM is this process's own peak RSS (ru_maxrss would carry the parent's peak across fork+exec)
peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) * 1024
print(json.dumps({"growth": peak - before, "used": int((result.assignment.clusters >= 0).sum())}))
"""


def test_peak_memory_bounded_by_block(tmp_path):
    n, dim = 48000, 384
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x[:, :4] += 4 * rng.integers(0, 8, size=(n, 1))  # some structure for k-means
    write_store(str(tmp_path / "big"), x, chunk_rows=1024)
    write_store(str(tmp_path / "small"), x[:3000], chunk_rows=1024)
    in_ram = n * dim * 4  # the float32 matrix a non-streaming fit would hold: 74 MB
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "big"), str(tmp_path / "small")],
                         capture_output=True, text=True,
                         cwd=str(tmp_path), env={"PYTHONPATH": ":".join(sys.path), "OMP_NUM_THREADS": "1"},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["used"] == n
    # the run holds a few copies of one 1024-row block (1.5 MB as float32) and the 1000-row sample, never the store
    assert report["growth"] < 0.25 * in_ram, report
