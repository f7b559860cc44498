"""`ssondo store verify|info` on a real store: a good one passes, damaged ones list their problems."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
import zarr
from click.testing import CliRunner

from pipeline.corpus import Corpus, CorpusWriter
from pipeline.embed import EmbedConfig, extract
from pipeline.store import EmbeddingStore, write_pointer
from pipeline.teachers.registry import build_teacher
from stages.store import main

from frame_net import FrameNet

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")




@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A finished torchscript store (8 clips, 0.5 s windows, shards of 8 rows), its params file and corpus."""
    root = tmp_path_factory.mktemp("built")
    writer, rng = CorpusWriter(root / "corpus.h5", 16000), np.random.default_rng(0)
    for i in range(8):
        writer.append(f"c{i}", (0.3 * rng.standard_normal(int((0.4 + 0.3 * i) * 16000))).astype(np.float32))
    writer.close()
    model = root / "frame_net.pt"
    torch.jit.save(torch.jit.script(FrameNet().eval()), str(model))
    options = {"path": str(model), "sample_rate": 8000, "embed_dim": 6}
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"base": {"num_threads": 1},
                                      "embed": {"options": {"torchscript": options}}}))
    cfg = EmbedConfig(teacher="torchscript", window_seconds=0.5, hop_seconds=0.5, batch_size=4, workers=0,
                      chunk_rows=4, shard_rows=8, device="cpu")
    result = extract(cfg, build_teacher("torchscript", options), Corpus(root / "corpus.h5"), str(root / "emb"))
    write_pointer(str(root / "emb"), EmbeddingStore.open(result.url))
    return root, Path(result.url).relative_to(root)


@pytest.fixture
def copy(built, tmp_path):
    """A private copy of the built store: (store folder, embed output folder, params file, corpus file)."""
    root, rel = built
    shutil.copytree(root, tmp_path / "b")
    return tmp_path / "b" / rel, tmp_path / "b" / "emb", tmp_path / "b" / "params.yaml", tmp_path / "b" / "corpus.h5"


def verify(*args):
    return CliRunner().invoke(main, ["verify", *map(str, args)])


def test_good_store_passes(copy):
    store, out, params, corpus = copy
    ok = verify(store, "--params", params, "--corpus", corpus, "--sample", 8)
    assert ok.exit_code == 0, ok.output
    assert ": OK; re-embedded 8 rows, max relative error" in ok.output
    # the embed output folder works too (store.json names the store), and re-embedding can be skipped
    quick = verify(out, "--no-reembed", "--params", "does-not-exist.yaml")
    assert quick.exit_code == 0 and quick.output.strip().endswith(": OK")


def test_truncated_chunk_is_reported(copy):
    store, _, params, corpus = copy
    files = sorted(p for p in (store / "window" / "c").rglob("*") if p.is_file())
    assert len(files) == EmbeddingStore.open(str(store)).layout.n_shards  # one file per shard
    data = files[1].read_bytes()
    files[1].write_bytes(data[: len(data) // 2])
    bad = verify(store, "--params", params, "--corpus", corpus)
    assert bad.exit_code == 1
    assert "shard 1: " in bad.output and ("checksum mismatch" in bad.output or "cannot decode" in bad.output)
    assert "re-embedding skipped because of the problems above" in bad.output
    assert "shard 0:" not in bad.output and "shard 2:" not in bad.output


def test_missing_zarr_json_is_reported(copy):
    store, _, _, _ = copy
    (store / "window" / "zarr.json").unlink()
    bad = verify(store, "--no-reembed")
    assert bad.exit_code == 1 and "array window: cannot open" in bad.output
    (store / "zarr.json").unlink()
    gone = verify(store, "--no-reembed")
    assert gone.exit_code == 1 and "missing zarr.json" in gone.output


def test_wrong_corpus_and_lost_ledger_entry(copy, tmp_path):
    store, _, _, _ = copy
    other = CorpusWriter(tmp_path / "other.h5", 16000)
    other.append("x", np.zeros(8000, np.float32))
    other.close()
    (store / "ledger" / "shard-000000.json").unlink()
    bad = verify(store, "--no-reembed", "--corpus", tmp_path / "other.h5")
    assert bad.exit_code == 1
    assert "but the given corpus is" in bad.output and "shard(s) not written: [0]" in bad.output


def test_reembedding_catches_rows_the_ledger_trusts(copy):
    """Rows rewritten with their ledger checksum updated pass every file check; only re-embedding sees them."""
    store, _, params, corpus = copy
    s = EmbeddingStore.open(str(store), mode="r+")
    emb = s.array("window")[0:8]
    valid = s.array("window_valid")[0:8]
    s.write_shard(0, -emb.astype(np.float32), valid, s.ledger_entry(0))  # same ledger counts, new checksum
    s.finalise()
    assert verify(store, "--no-reembed").exit_code == 0
    bad = verify(store, "--params", params, "--corpus", corpus, "--sample", 100)
    assert bad.exit_code == 1 and "sampled row(s) differ from the stored rows" in bad.output


def test_changed_teacher_options_are_reported(copy):
    store, _, params, corpus = copy
    data = yaml.safe_load(params.read_text())
    data["embed"]["options"]["torchscript"]["sample_rate"] = 16000
    params.write_text(yaml.safe_dump(data))
    bad = verify(store, "--params", params, "--corpus", corpus)
    assert bad.exit_code == 1 and "is not the store's" in bad.output


def test_info(copy):
    store, out, _, _ = copy
    text = CliRunner().invoke(main, ["info", str(out)])
    assert text.exit_code == 0
    lines = dict(line.split(None, 1) for line in text.output.splitlines())
    assert lines["teacher"] == "torchscript" and lines["n_clips"] == "8" and lines["complete"] == "True"
    as_json = json.loads(CliRunner().invoke(main, ["info", str(store), "--json"]).output)
    assert (as_json["n_clips"], as_json["dim"], as_json["nan_rows"], as_json["shards_done"]) == \
        (8, 6, 0, as_json["n_shards"])
    assert as_json["n_windows"] == zarr.open_array(str(store / "window"), mode="r").shape[0]
    missing = CliRunner().invoke(main, ["info", str(store.parent / "nothing")])
    assert missing.exit_code != 0 and "no embedding store" in missing.output
