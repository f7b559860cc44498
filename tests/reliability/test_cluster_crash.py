"""`ssondo cluster` killed with SIGKILL at random points and mid-write: a re-run gives the uninterrupted outputs,
and no partial output is ever taken for a complete one."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from toy_teacher import ToyTeacher

from pipeline.cluster.config import ClusterError
from pipeline.cluster.index import load_index
from pipeline.embed import EmbedConfig, extract
from pipeline.store import EmbeddingStore, write_pointer
from stages.cluster import main

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"base": {"num_threads": 1}, "audio": {"window_seconds": 1.0, "hop_seconds": 1.0},  # the store's windows
          "cluster": {"teacher": "toy", "k": 3, "init_size": 12, "batch_size": 4, "chunk_rows": 4,
                      "metric_sample": 12, "map_sample": 12, "passes": 2}}
INPUTS = ["--corpus", "corpus", "--embeddings", "cache/embeddings"]  # as dvc.yaml passes them
OUTPUTS = ("index.parquet", "meta.json", "centroids.npy", "metrics.json", "sizes.csv")


@pytest.fixture
def project(tiny_corpus, tmp_path, monkeypatch) -> tuple[Path, str]:
    """cwd = a project folder holding corpus/, cache/embeddings/toy and params.yaml; returns it and the store id."""
    monkeypatch.chdir(tmp_path)
    cfg = EmbedConfig(teacher="toy", window_seconds=1.0, hop_seconds=1.0, chunk_rows=4, shard_rows=8, device="cpu",
                      bf16=False)
    store = EmbeddingStore.open(extract(cfg, ToyTeacher(), tiny_corpus, "cache/embeddings/toy").url)
    write_pointer("cache/embeddings/toy", store)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    return tmp_path, store.fingerprint


def in_process(out: Path) -> None:
    """An uninterrupted `ssondo cluster --out out` in this process."""
    result = CliRunner().invoke(main, ["--params", "params.yaml", *INPUTS, "--out", str(out)])
    assert result.exit_code == 0, result.output


def killed_run(root: Path, out: Path, when) -> bool:
    """Start `ssondo cluster` in a subprocess and SIGKILL it once `when(elapsed)` holds; True if it was killed."""
    ssondo = Path(sys.executable).parent / "ssondo"
    cmd = [str(ssondo)] if ssondo.exists() else [sys.executable, "-m", "stages.cli"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd + ["cluster", "--params", "params.yaml", *INPUTS, "--out", str(out)], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    start = time.monotonic()
    while proc.poll() is None and not when(time.monotonic() - start):
        assert time.monotonic() - start < 120, "cluster subprocess hung"
        time.sleep(0.002)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read().decode()[-2000:]
    return proc.returncode == -signal.SIGKILL


def writing(root: Path, since_ns: int):
    """Trigger: a file under an `out`-named folder (the output or a temp copy of it) was written after `since_ns`."""
    def started(_elapsed: float) -> bool:
        for path in root.glob("*out*/*"):
            try:
                if path.stat().st_mtime_ns >= since_ns:
                    return True
            except FileNotFoundError:  # renamed or removed while we looked
                pass
        return False
    return started


def snapshot(folder: Path) -> dict:
    """The outputs that matter, as comparable values."""
    index = pd.read_parquet(folder / "index.parquet")
    return {"index": index.to_dict("list"), "centroids": np.load(folder / "centroids.npy").tolist(),
            "meta": json.loads((folder / "meta.json").read_text()),
            "metrics": json.loads((folder / "metrics.json").read_text()),
            "sizes": (folder / "sizes.csv").read_text()}


def assert_absent_or_equal(out: Path, reference: dict, fingerprint: str) -> None:
    """`out` is either missing (and the loader says so) or a whole, loadable copy of the reference."""
    if out.exists():
        assert snapshot(out) == reference
        load_index(out, fingerprint, n_rows=12)
    else:
        with pytest.raises(ClusterError, match="no cluster index"):
            load_index(out, fingerprint)


def test_sigkill_never_leaves_a_partial_index(project):
    root, fingerprint = project
    in_process(root / "ref")
    reference = snapshot(root / "ref")
    out = root / "out"

    # killed as soon as it starts writing: nothing at `out`, and the index loader says so
    assert killed_run(root, out, writing(root, time.time_ns()))
    assert not out.exists()
    with pytest.raises(ClusterError, match="no cluster index"):
        load_index(out, fingerprint)
    # killed at random moments (imports, k-means, writing, or after it finished)
    for delay in np.random.default_rng(0).uniform(0.5, 6.0, size=2):
        killed_run(root, out, lambda t: t > delay)
        assert_absent_or_equal(out, reference, fingerprint)
    in_process(out)
    assert snapshot(out) == reference

    # a complete output stays whole while a later run is killed half-way through writing its own
    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    assert killed_run(root, out, writing(root, time.time_ns()))
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == before
    in_process(out)
    assert snapshot(out) == reference
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".out")) == []


def test_half_written_index_is_refused(project):
    root, fingerprint = project
    in_process(root / "out")
    data = (root / "out" / "index.parquet").read_bytes()
    for cut in (0, 8, len(data) // 2, len(data) - 9, len(data) - 1):
        (root / "out" / "index.parquet").write_bytes(data[:cut])
        with pytest.raises(ClusterError, match="re-run `ssondo cluster`"):
            load_index(root / "out", fingerprint)
