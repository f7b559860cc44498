"""`ssondo cluster` through click's CliRunner on a tiny real store (ToyTeacher over the 12-clip corpus)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from toy_teacher import ToyTeacher

from pipeline.cluster.index import load_index
from pipeline.embed import EmbedConfig, extract
from pipeline.store import EmbeddingStore, write_pointer
from stages.cluster import main


AUDIO = {"window_seconds": 1.0, "hop_seconds": 1.0}  # the store's windows; the stage checks params against them


@pytest.fixture
def toy_store(tiny_corpus, tmp_path, monkeypatch) -> EmbeddingStore:
    """A real store of the tiny corpus under <tmp>/cache/embeddings/toy, with cwd set to <tmp>."""
    monkeypatch.chdir(tmp_path)
    cfg = EmbedConfig(teacher="toy", **AUDIO, chunk_rows=4, shard_rows=8, device="cpu",
                      bf16=False)
    store = EmbeddingStore.open(extract(cfg, ToyTeacher(), tiny_corpus, "cache/embeddings/toy").url)
    write_pointer("cache/embeddings/toy", store)
    return store


def folders(tmp_path, out: str = "cache/clusters/toy-k3") -> list[str]:
    """The stage's path options, as dvc.yaml passes them."""
    return ["--corpus", str(tmp_path / "corpus"), "--embeddings", "cache/embeddings", "--out", out]


def test_stage_writes_index(toy_store, tiny_corpus, tmp_path):
    params = {"audio": AUDIO, "cluster": {"teacher": "toy", "k": 5, "init_size": 12, "batch_size": 4, "chunk_rows": 4,
                          "metric_sample": 12, "map_sample": 12, "passes": 2}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = CliRunner().invoke(main, ["--params", "params.yaml", "--k", "3", *folders(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "cluster toy: k=3: 12/12 clips clustered" in out.output
    folder = tmp_path / "cache/clusters/toy-k3"
    weights, clusters = load_index(folder, toy_store.fingerprint, n_rows=12)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert set(clusters) == {0, 1, 2}
    sizes = np.bincount(clusters)
    np.testing.assert_allclose(weights * sizes[clusters], 1 / 3)
    index = pd.read_parquet(folder / "index.parquet")
    assert list(index["clip_id"]) == list(tiny_corpus.manifest()["clip_id"])
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["k"] == 3 and metrics["rows_used"] == 12 and metrics["silhouette"] is not None
    for name in ("centroids.npy", "meta.json", "sizes.csv", "sizes.png", "map.png"):
        assert (folder / name).exists()


def test_stage_reports_bad_input(toy_store, tmp_path):
    params = {"audio": AUDIO, "cluster": {"teacher": "toy", "k": 20, "init_size": 20, "metric_sample": 0, "map_sample": 12}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = CliRunner().invoke(main, ["--params", "params.yaml", *folders(tmp_path)])
    assert out.exit_code != 0 and "larger than the number of valid clips (12 of 12)" in out.output
    out = CliRunner().invoke(main, ["--params", "params.yaml", "--teacher", "nope", *folders(tmp_path)])
    assert out.exit_code != 0 and "no store.json" in out.output
