"""Stores on an S3-protocol server started by the test (moto, HTTP on 127.0.0.1), reached through s3fs with the
endpoint and credentials in the standard AWS environment variables: the embed -> cluster -> train chain, reuse,
verification, and the errors of a missing bucket."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

from s3_server import s3_server  # noqa: E402

from pipeline.embed import EmbedConfig, extract  # noqa: E402
from pipeline.store import StoreError, open_current, store_contents, verify_store, write_pointer  # noqa: E402
from pipeline.store import EmbeddingStore  # noqa: E402
from stages import cli  # noqa: E402
from toy_teacher import ToyTeacher  # noqa: E402

CFG = dict(window_seconds=1.0, hop_seconds=1.0, chunk_rows=4, shard_rows=8, device="cpu", bf16=False, workers=0)


@pytest.fixture
def bucket(monkeypatch) -> str:
    """A fresh server with one empty bucket; the store root URL in it."""
    import fsspec

    with s3_server(monkeypatch):
        fsspec.filesystem("s3").mkdir("team")
        yield "s3://team/stores"


def test_a_store_on_s3_is_the_local_store_bit_for_bit_and_is_reused(bucket, tiny_corpus, tmp_path):
    cfg = EmbedConfig(teacher="toy", **CFG)
    local = extract(cfg, ToyTeacher(), tiny_corpus, str(tmp_path / "local" / "toy"))
    remote = extract(cfg, ToyTeacher(), tiny_corpus, f"{bucket}/toy")
    assert remote.url == f"{bucket}/toy/{local.fingerprint}" and not remote.reused
    assert store_contents(remote.url) == store_contents(local.url)
    assert verify_store(remote.url, tiny_corpus.fingerprint) == []
    write_pointer(str(tmp_path / "emb" / "toy"), EmbeddingStore.open(remote.url))
    assert open_current(str(tmp_path / "emb" / "toy"), tiny_corpus.fingerprint).url == remote.url
    teacher = ToyTeacher()
    again = extract(cfg, teacher, tiny_corpus, f"{bucket}/toy")
    assert again.reused and teacher.calls == 0


def test_embed_cluster_train_with_the_stores_on_s3(bucket, tiny_corpus, tmp_path, monkeypatch):
    """The stage commands as dvc.yaml runs them, `--stores` an s3:// URL: only pointers and outputs are local."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "teachers"))  # entry_helper
    monkeypatch.chdir(tmp_path)
    params = {"base": {"num_threads": 1}, "audio": {"sample_rate": 16000, "window_seconds": 1.0, "hop_seconds": 1.0},
              "frontend": {"n_mels": 32, "fmax": 8000.0},
              "embed": {"teachers": ["energy"], "batch_size": 4, "workers": 0, "chunk_rows": 4, "shard_rows": 8,
                        "device": "cpu", "options": {"energy": {"kind": "python", "entry": "entry_helper:make_energy",
                                                                "kwargs": {"dim": 8}}}},
              "cluster": {"teacher": "energy", "k": 3, "init_size": 12, "batch_size": 4, "chunk_rows": 4,
                          "metric_sample": 12, "map_sample": 12, "passes": 2},
              "train": {"teachers": ["energy"], "student": "mobilenetv3", "student_options": {"width": 0.1},
                        "head_hidden": [], "sampler": "balanced", "epochs": 1, "epoch_size": 16, "batch_size": 8,
                        "warmup_epochs": 0.0, "workers": 0, "device": "cpu", "val_max_rows": 8}}
    Path("params.yaml").write_text(yaml.safe_dump(params))
    steps = [["embed", "--corpus", tiny_corpus.path, "--stores", bucket, "--out", "emb/energy"],
             ["cluster", "--corpus", tiny_corpus.path, "--pointers", "emb", "--out", "clusters/energy-k3"],
             ["train", "--corpus", tiny_corpus.path, "--pointers", "emb", "--index", "clusters/energy-k3",
              "--out", "students/s3"]]
    for args in steps:
        result = CliRunner().invoke(cli.main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    pointer = json.loads(Path("emb/energy/store.json").read_text())
    assert pointer["store"].startswith(f"{bucket}/energy/")
    assert not any(p.name.endswith(".zarr") or (p / "zarr.json").exists() for p in tmp_path.rglob("*") if p.is_dir())
    config = json.loads(torch.load("students/s3/student.pt", weights_only=True)["config"])
    assert config["store_fingerprints"] == [pointer["store_fingerprint"]]


def test_a_missing_bucket_is_one_clear_line_and_nothing_is_written_locally(bucket, tiny_corpus, tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=r"store root s3://absent/stores/toy: bucket 'absent' does not exist"):
        extract(EmbedConfig(teacher="toy", **CFG), ToyTeacher(), tiny_corpus, "s3://absent/stores/toy")
    params = {"base": {"num_threads": 1}, "audio": {"window_seconds": 1.0, "hop_seconds": 1.0},
              "embed": {"teachers": ["energy"], "workers": 0, "device": "cpu",
                        "options": {"energy": {"kind": "python", "entry": "entry_helper:make_energy"}}}}
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "teachers"))
    Path("params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(cli.main, ["embed", "--corpus", tiny_corpus.path, "--stores", "s3://absent/stores",
                                           "--out", "emb/energy"])
    assert result.exit_code != 0 and "bucket 'absent' does not exist" in result.output
    assert not Path("emb").exists()
