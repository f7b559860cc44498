"""Tiny copies of the project for end-to-end tests: the code, dvc.yaml and params.yaml with small settings, and
the inputs `train` reads as the earlier stages leave them (a real corpus, band-teacher store and cluster index)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import yaml
from train_setup import BandTeacher, make_corpus, make_store

from pipeline.cluster.index import write_index

ROOT = Path(__file__).resolve().parents[2]

# `train` on the band teacher's store at 16 kHz: 0.5 s windows, a width-0.1 student, 32 draws an epoch
TRAIN = {
    "base": {"num_threads": 1},
    "audio": {"sample_rate": 16000, "window_seconds": 0.5, "hop_seconds": 0.5},
    "frontend": {"n_mels": 32, "fmax": 8000.0},
    "cluster": {"teacher": "band", "k": 3},
    "train": {"name": "tiny", "teachers": ["band"], "student_options": {"width": 0.1, "summary_bands": 32},
              "head_hidden": [32],
              "epochs": 6, "epoch_size": 32, "batch_size": 16, "workers": 0, "device": "cpu", "val_max_rows": 16},
}


def deep_update(base: dict, extra: dict) -> dict:
    """`base` with `extra` merged in, section by section."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def write_params(dest: Path, overrides: dict) -> Path:
    """The project's params.yaml with `overrides` merged in, written to `dest/params.yaml`."""
    params = deep_update(yaml.safe_load((ROOT / "params.yaml").read_text()), overrides)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest / "params.yaml"


def copy_project(dest: Path, overrides: dict) -> Path:
    """The working tree's files that git does not ignore (committed or not) in `dest`, params merged with
    `overrides`."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    write_params(dest, overrides)
    return dest


def train_inputs(project: Path, n: int = 24) -> None:
    """`cache/corpus`, `cache/embeddings/band` and `cache/clusters/band-k3` as prepare, embed and cluster leave
    them (the layout of the TRAIN params)."""
    corpus = make_corpus(project / "cache", n=n)
    store = project / "cache" / "embeddings" / "band"
    make_store(corpus, store, BandTeacher())
    clip_ids = np.array([f"c{i:04d}" for i in range(n)])
    store_fp = json.loads((store / "store.json").read_text())["store_fingerprint"]
    write_index(project / "cache" / "clusters" / "band-k3", clip_ids, np.arange(n) % 3, np.zeros(n), np.ones(n),
                {"store_fingerprint": store_fp})


def train_args(name: str) -> list[str]:
    """`ssondo train`'s folder options for the TRAIN layout (as dvc.yaml passes them), writing students/<name>."""
    return ["--corpus", "cache/corpus", "--embeddings", "cache/embeddings", "--index", "cache/clusters/band-k3",
            "--out", f"cache/students/{name}"]
