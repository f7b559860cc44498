"""Cached artefacts from somewhere else, or damaged, are refused with a clear message and never silently used."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner
from train_setup import BandTeacher, frontend_config, make_corpus, make_store, tiny_config

from pipeline.inference.checkpoint import read_checkpoint, save_student
from pipeline.store import StoreError, open_current
from pipeline.students.head import HeadOptions, ProjectionHead
from pipeline.students.registry import build_student
from pipeline.train.data import distill_data
from pipeline.train.loop import fit
from stages import cli

PARAMS = {
    "base": {"num_threads": 1},
    "audio": {"sample_rate": 16000, "window_seconds": 0.5, "hop_seconds": 0.5},
    "frontend": {"n_mels": 32, "fmax": 8000.0},
    "cluster": {"teacher": "band", "k": 3, "init_size": 20, "batch_size": 8, "chunk_rows": 8, "passes": 1,
                "metric_sample": 0, "map_sample": 12},
    "train": {"name": "s", "teachers": ["band"], "student_options": {"width": 0.1}, "head_hidden": [16],
              "sampler": "balanced", "target": "clip", "cache_logmels": False, "epochs": 1, "epoch_size": 32,
              "batch_size": 16, "workers": 0, "device": "cpu", "val_max_rows": 16},
}
WINDOW = 8000  # 0.5 s at 16 kHz


FOLDERS = {  # each stage's path options, as dvc.yaml passes them
    "cluster": ["--corpus", "cache/corpus", "--embeddings", "cache/embeddings", "--out", "cache/clusters/band-k3"],
    "train": ["--corpus", "cache/corpus", "--embeddings", "cache/embeddings", "--index", "cache/clusters/band-k3",
              "--out", "cache/students/s"],
}


def ssondo(root: Path, monkeypatch, stage: str):
    """`ssondo <stage> --params params.yaml <folders>` run in `root`."""
    monkeypatch.chdir(root)
    return CliRunner().invoke(cli.main, [stage, "--params", "params.yaml", *FOLDERS[stage]])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A project after prepare, embed (band teacher) and cluster; a second corpus; a store of another teacher."""
    root = tmp_path_factory.mktemp("integrity")
    project = root / "project"
    corpus = make_corpus(project / "cache", n=24)
    store = make_store(corpus, project / "cache" / "embeddings" / "band", BandTeacher())
    (project / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    with pytest.MonkeyPatch.context() as mp:
        result = ssondo(project, mp, "cluster")
    assert result.exit_code == 0, result.output
    other_corpus = make_corpus(root / "other", n=24, seed=1)
    other_teacher = make_store(corpus, root / "other_teacher", BandTeacher(seed=1))
    return project, corpus, store, other_corpus, other_teacher


@pytest.fixture
def project(built, tmp_path) -> Path:
    """A private copy of the built project."""
    shutil.copytree(built[0], tmp_path / "p")
    return tmp_path / "p"


def assert_refused(result, *phrases: str) -> None:
    """A clean click error (no traceback) whose message holds every phrase."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), f"crashed instead of refusing: {result.exception!r}"
    for phrase in phrases:
        assert phrase in result.output, result.output


def test_store_of_another_corpus(project, built, monkeypatch):
    shutil.rmtree(project / "cache" / "corpus")
    shutil.copytree(Path(built[3].path).parent, project / "cache" / "corpus")
    for stage in ("cluster", "train"):
        assert_refused(ssondo(project, monkeypatch, stage), "was built from corpus", "re-run `ssondo embed`")


def test_store_without_zarr_json(project, built, monkeypatch):
    store = Path(open_current(str(project / "cache/embeddings/band")).url)
    (store / "zarr.json").unlink()
    for stage in ("cluster", "train"):
        assert_refused(ssondo(project, monkeypatch, stage), "missing zarr.json", "ssondo embed")


def test_damaged_store(project, monkeypatch):
    store = Path(open_current(str(project / "cache/embeddings/band")).url)
    chunk = sorted(p for p in (store / "clip" / "c").rglob("*") if p.is_file())[1]
    chunk.write_bytes(chunk.read_bytes()[:20])  # truncated: must fail to decode, never read as zeros
    (sorted(p for p in (store / "window" / "c").rglob("*") if p.is_file())[0]).unlink()  # a lost shard file
    for stage in ("cluster", "train"):
        assert_refused(ssondo(project, monkeypatch, stage), "cannot read clip", "it is damaged", "ssondo store verify")
    monkeypatch.chdir(project)
    verify = CliRunner().invoke(cli.main, ["store", "verify", str(store), "--no-reembed"])
    assert verify.exit_code == 1
    assert "shard 0: checksum mismatch" in verify.output and "clip: cannot recompute clip means" in verify.output


@pytest.mark.parametrize("array", ["clip", "window"])
def test_lost_chunk_file(project, monkeypatch, array):
    """A deleted chunk file reads back as the fill value (NaN), never as silent zeros: refused by name."""
    store = Path(open_current(str(project / "cache/embeddings/band")).url)
    sorted(p for p in (store / array / "c").rglob("*") if p.is_file())[-1].unlink()
    monkeypatch.chdir(project)
    if array == "window":  # the stages read clip means; the window rows are read by re-pooling and verify
        with pytest.raises(StoreError, match=r"read back as NaN because their chunk file is missing"):
            open_current("cache/embeddings/band").read("window")
        return
    for stage in ("cluster", "train"):
        assert_refused(ssondo(project, monkeypatch, stage), f"of {array}", "read back as NaN",
                       "because their chunk file is missing", "ssondo store verify")


def test_cluster_index_of_another_store(project, built, monkeypatch):
    make_store(built[1], project / "cache" / "embeddings" / "band", BandTeacher(seed=1))  # band re-embedded
    assert_refused(ssondo(project, monkeypatch, "train"), "was built from store", "re-run `ssondo cluster`")


def _student(path: Path, meta: dict) -> Path:
    """A fresh width-0.1 student saved with provenance `meta`, as training would record it."""
    student = build_student("mobilenetv3", {"width": 0.1})
    config = {"student": "mobilenetv3", "student_options": {"width": 0.1}, "head_hidden": [],
              "frontend": json.loads(json.dumps(frontend_config().__dict__)), "window_samples": WINDOW,
              "out_dim": 16, "embed_dim": student.embed_dim, **meta}
    return save_student(path, student, ProjectionHead(student.embed_dim, 16, HeadOptions(hidden=())), config)


def test_train_does_not_resume_a_checkpoint_of_another_run(built, tmp_path):
    _, corpus, store, _, other_teacher = built
    cfg = tiny_config(epochs=2, epoch_size=32, head_hidden=(16,))
    out = tmp_path / "run"
    fit(cfg, distill_data(cfg, corpus, [other_teacher], WINDOW, None, None), frontend_config(), out,
        stop_after_epoch=1)
    foreign = torch.load(out / "checkpoint.pt", weights_only=True)
    with pytest.warns(UserWarning, match="belongs to another run.*training starts over"):
        fit(cfg, distill_data(cfg, corpus, [store], WINDOW, None, None), frontend_config(), out)
    history = json.loads(torch.load(out / "student.pt", weights_only=True)["history"])
    assert [h["epoch"] for h in history] == [0, 1, 2]  # both epochs trained here, none taken over
    mine = torch.load(out / "checkpoint.pt", weights_only=True)
    assert mine["run_fingerprint"] != foreign["run_fingerprint"]
    assert read_checkpoint(out).config.meta["store_fingerprints"] == [store.fingerprint]
