"""Stores on an S3-protocol server started by the test (moto, HTTP on 127.0.0.1), reached through s3fs with the
endpoint and credentials in the standard AWS environment variables: the embed -> cluster -> train chain, reuse,
verification, two writers splitting one store, a silent writer's claim expiring, the server going away in the
middle of an embed and coming back, and the errors of a missing bucket."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

from s3_server import free_port, s3_server  # noqa: E402
from tcp_proxy import TcpProxy  # noqa: E402
from embed_run import launch  # noqa: E402

from pipeline.embed import EmbedConfig, extract  # noqa: E402
from pipeline.store import StoreError, open_current, store_contents, verify_store, write_pointer  # noqa: E402
from pipeline.store import EmbeddingStore  # noqa: E402
from pipeline.store import claims as claims_module  # noqa: E402
from pipeline.store.claims import Claims  # noqa: E402
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


class SlowToy(ToyTeacher):
    """The toy teacher taking `seconds` per batch (a real teacher's pace), and running `at_call` once at call n."""

    def __init__(self, seconds: float = 0.0, at_call: tuple[int, object] | None = None):
        super().__init__()
        self.seconds, self.at_call = seconds, at_call

    def embed(self, waveforms, lengths=None):
        if self.at_call is not None and self.calls + 1 == self.at_call[0]:
            self.at_call[1]()
        time.sleep(self.seconds)
        return super().embed(waveforms, lengths)


def test_two_writers_on_one_bucket_split_the_shards(bucket, tiny_corpus, tmp_path):
    """Two writers (one thread each, started together) on one new store: every row is embedded exactly once between
    them, the store verifies and equals the single writer's store bit for bit."""
    cfg = EmbedConfig(teacher="toy", **dict(CFG, batch_size=4, claim_seconds=30.0))
    local = extract(cfg, ToyTeacher(), tiny_corpus, str(tmp_path / "local" / "toy"))
    teachers, results, errors = [SlowToy(0.5), SlowToy(0.5)], [None, None], []
    start = threading.Barrier(2)

    def write(i: int) -> None:
        try:
            start.wait()
            results[i] = extract(cfg, teachers[i], tiny_corpus, f"{bucket}/toy")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    rows = [r.report["windows_this_run"] for r in results]
    n = EmbeddingStore.open(results[0].url).layout.n_windows
    assert sum(rows) == n and all(rows), rows  # every row once; both wrote
    assert verify_store(results[0].url, tiny_corpus.fingerprint) == []
    assert store_contents(results[0].url) == store_contents(local.url)


def test_two_writer_processes_on_one_bucket_write_every_row_once(bucket, tiny_corpus, tmp_path):
    """The same with two processes (each its own s3fs client and listing cache, as on two machines): every shard
    closed by exactly one of them, every row embedded once."""
    procs = [launch(tmp_path, tiny_corpus, tmp_path / f"log{i}", sleep=0.15, stores=f"{bucket}/toy",
                    cfg={"claim_seconds": 30.0, "chunk_rows": 4, "shard_rows": 8}) for i in range(2)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    wrote = [json.loads((tmp_path / f"log{i}" / "wrote-0.json").read_text()) for i in range(2)]
    url = json.loads(logs[0].split("RESULT", 1)[1])["url"]
    n_shards = EmbeddingStore.open(url).layout.n_shards
    assert sorted(wrote[0] + wrote[1]) == list(range(n_shards)) and wrote[0] and wrote[1], wrote
    assert verify_store(url, tiny_corpus.fingerprint) == []


def test_a_silent_writers_claim_expires_and_the_rerun_takes_its_shards(bucket, tiny_corpus, tmp_path, capfd,
                                                                       monkeypatch):
    """A writer on another machine claimed shard 0 and then fell silent (no renewals: its machine went down). A
    run on the store embeds the other shards, then waits, says who holds what, and takes shard 0 over once the claim
    has not changed for its expiry (10 s, longer than the other shards take) on the run's own clock."""
    cfg = EmbedConfig(teacher="toy", **dict(CFG, claim_seconds=30.0))
    local = extract(cfg, ToyTeacher(), tiny_corpus, str(tmp_path / "local" / "toy"))
    url = f"{bucket}/toy/{local.fingerprint}"
    with monkeypatch.context() as patch:
        patch.setattr(claims_module, "HOST", "gpu-node-7/0000")
        assert Claims(url, ttl=10.0, owner="gpu-node-7/4242/rank0").take("shard-000000")
    result = extract(cfg, ToyTeacher(), tiny_corpus, f"{bucket}/toy")
    err = capfd.readouterr().err
    assert "waiting for 1 unfinished shard(s) held by other writers (gpu-node-7/4242/rank0 holds shard(s) 0)" in err
    assert result.report["windows_this_run"] == result.report["windows"]
    assert store_contents(result.url) == store_contents(local.url)


def test_the_server_going_away_mid_embed_is_a_clear_error_and_the_rerun_resumes(bucket, tiny_corpus, tmp_path,
                                                                                 monkeypatch):
    """The endpoint stops answering at the teacher's 5th batch (the server keeps its data, as a restarted MinIO
    does): the run fails with one line naming the store; once the endpoint is back, the rerun keeps every commit
    recorded before the cut and embeds only the rest."""
    import fsspec

    cfg = EmbedConfig(teacher="toy", **dict(CFG, claim_seconds=30.0))
    local = extract(cfg, ToyTeacher(), tiny_corpus, str(tmp_path / "local" / "toy"))
    server = int(os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
    proxy = TcpProxy(("127.0.0.1", server), free_port()).up()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # fail in seconds, not after botocore's default retries
    fsspec.get_filesystem_class("s3").clear_instance_cache()
    try:
        with pytest.raises(StoreError, match=rf"store {bucket}/toy/{local.fingerprint}: .*the storage failed "
                                             rf"\(EndpointConnectionError.*re-run `ssondo embed` to resume"):
            extract(cfg, SlowToy(at_call=(5, proxy.down)), tiny_corpus, f"{bucket}/toy")
        proxy.up()
        fsspec.get_filesystem_class("s3").clear_instance_cache()
        url = f"{bucket}/toy/{local.fingerprint}"
        store = EmbeddingStore.open(url)
        done = store.done_shards()
        kept = sum(store.layout.shard_range(s)[1] - store.layout.shard_range(s)[0] for s in done) + sum(
            c["stop"] - c["start"] for s in set(range(store.layout.n_shards)) - done for c in store.progress(s))
        assert kept > 0
        teacher = ToyTeacher()
        result = extract(cfg, teacher, tiny_corpus, f"{bucket}/toy")
        assert result.report["windows_reused"] == kept
        assert result.report["windows_this_run"] == store.layout.n_windows - kept
        assert store_contents(url) == store_contents(local.url)
    finally:
        proxy.down()
