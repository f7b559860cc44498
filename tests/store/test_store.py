"""The embedding store: round trip, ledger, completeness, pointers and verification."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil

import numpy as np
import pytest
import zarr

from pipeline.audio.config import AudioConfig
from pipeline.store import (EmbeddingStore, StoreError, StoreLayout, current_url, open_current, store_fingerprint,
                            verify_store, write_pointer)

# 5 clips with 3, 1, 4, 2, 2 windows -> 12 windows; shards of 4 rows hold chunks of 2 rows
WINDOWS_PER_CLIP = [3, 1, 4, 2, 2]
LAYOUT = StoreLayout(n_clips=5, n_windows=12, dim=6, dtype="float16", chunk_rows=2, shard_rows=4)


def meta(corpus: str = "corpus-a", teacher: str = "w0") -> dict:
    m = {"teacher": "toy", "teacher_fingerprint": teacher, "teacher_sample_rate": 8000, "corpus_fingerprint": corpus,
         "corpus_sample_rate": 16000, "window_seconds": 0.25, "hop_seconds": 0.25, "last_window": "pad",
         "dtype": "float16", "pooling": "mean"}
    return dict(m, store_fingerprint=store_fingerprint(m))


def index() -> dict[str, np.ndarray]:
    clip = np.repeat(np.arange(5), WINDOWS_PER_CLIP)
    start = np.concatenate([np.arange(n) * 4000 for n in WINDOWS_PER_CLIP])
    return {"window_clip": clip, "window_start": start, "window_length": np.full(12, 4000)}


def rows_and_mask(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(12, 6) embeddings; clip 1's only window and one window of clip 2 are invalid (stored as zeros)."""
    emb = np.random.default_rng(seed).standard_normal((12, 6)).astype(np.float32)
    valid = np.ones(12, dtype=bool)
    valid[[3, 5]] = False
    emb[~valid] = 0
    return emb, valid


def build(url: str, shards=(0, 1, 2), finalise: bool = True, **kw) -> EmbeddingStore:
    store = EmbeddingStore.create(url, LAYOUT, meta(**kw), index())
    emb, valid = rows_and_mask()
    for s in shards:
        lo, hi = LAYOUT.shard_range(s)
        store.write_shard(s, emb[lo:hi], valid[lo:hi], {"nan_rows": int((~valid[lo:hi]).sum()), "zero_rows": 0,
                                                        "rows": hi - lo})
    if finalise:
        store.finalise()
    return store


@pytest.mark.parametrize("kind", ["path", "file_url", "memory_url"])
def test_fsspec_urls(tmp_path, kind):
    """The same store through a plain path, an explicit file:// URL and an in-memory fsspec filesystem."""
    out = {"path": str(tmp_path / "emb"), "file_url": f"file://{tmp_path}/emb",
           "memory_url": f"memory://ssondo-test-{tmp_path.name}/emb"}[kind]
    store = build(f"{out}/stores/a")
    write_pointer(out, store)
    again = open_current(out, "corpus-a")
    assert again.url == f"{out}/stores/a" and again.complete
    assert np.array_equal(again.read("window"), rows_and_mask()[0].astype(np.float16))
    assert verify_store(again.url, "corpus-a") == []


def test_round_trip(tmp_path):
    url = str(tmp_path / "s")
    build(url)
    store = EmbeddingStore.open(url).require_complete("corpus-a")
    emb, valid = rows_and_mask()
    stored = store.array("window")[:]
    assert stored.dtype == np.float16 and np.array_equal(stored, emb.astype(np.float16))
    assert np.array_equal(store.array("window_valid")[:], valid)
    for name, values in index().items():
        got = store.array(name)[:]
        assert got.dtype == np.int64 and np.array_equal(got, values)
    # clip = mean of the clip's valid fp16 windows, computed here clip by clip
    clip_of = index()["window_clip"]
    for c in range(5):
        keep = (clip_of == c) & valid
        want = emb.astype(np.float16)[keep].astype(np.float64).mean(0) if keep.any() else np.zeros(6)
        np.testing.assert_allclose(store.array("clip")[c].astype(np.float64), want, rtol=1e-3, atol=1e-4)
    assert store.array("clip_valid")[:].tolist() == [True, False, True, True, True]
    assert store.complete and store.dim == 6 and store.layout == LAYOUT
    assert store.fingerprint == meta()["store_fingerprint"] and store.attrs["format_version"] == 1
    assert json.loads((tmp_path / "s" / "zarr.json").read_text())["zarr_format"] == 3
    # the ledger checksum is sha256 over the shard's fp16 bytes then its bool mask
    lo, hi = LAYOUT.shard_range(1)
    want = hashlib.sha256(emb[lo:hi].astype(np.float16).tobytes() + valid[lo:hi].tobytes()).hexdigest()
    entry = store.ledger_entry(1)
    assert (entry["checksum"], entry["start"], entry["stop"], entry["nan_rows"]) == (want, 4, 8, 1)
    assert verify_store(url, "corpus-a") == []


def test_layout_and_write_checks(tmp_path):
    assert (LAYOUT.n_shards, LAYOUT.shard_range(2)) == (3, (8, 12))
    store = build(str(tmp_path / "s"), shards=(), finalise=False)
    with pytest.raises(StoreError, match=r"expected \(4, 6\)"):
        store.write_shard(0, np.zeros((3, 6)), np.ones(3, bool), {})
    with pytest.raises(FileExistsError):
        EmbeddingStore.create(str(tmp_path / "s"), LAYOUT, meta(), index())


def test_incomplete_store_is_refused(tmp_path):
    store = build(str(tmp_path / "s"), shards=(0, 2), finalise=False)
    assert store.done_shards() == {0, 2}
    with pytest.raises(StoreError, match=r"incomplete \(2/3 shards written\); re-run `ssondo embed` to resume"):
        store.require_complete()
    with pytest.raises(StoreError, match=r"cannot finalise, 1 shard\(s\) not written: \[1\]"):
        store.finalise()
    problems = verify_store(store.url)
    assert any("not marked complete" in p for p in problems)
    assert any("1/3 shard(s) not written: [1]" in p for p in problems)


def test_corpus_mismatch(tmp_path):
    store = build(str(tmp_path / "s"))
    with pytest.raises(StoreError, match="from corpus corpus-a but the corpus is corpus-b; re-run `ssondo embed`"):
        store.require_complete("corpus-b")
    assert verify_store(store.url, "corpus-b") == [
        "built from corpus corpus-a, but the given corpus is corpus-b"]


def test_params_that_disagree_with_the_store_are_refused_by_name(tmp_path):
    store = build(str(tmp_path / "s"))
    same = AudioConfig(sample_rate=16000, window_seconds=0.25, hop_seconds=0.25, last_window="pad")
    assert store.require_audio(same) is store
    for change, key in (({"window_seconds": 2.0}, "window_seconds"), ({"hop_seconds": 0.125}, "hop_seconds"),
                        ({"last_window": "drop"}, "last_window")):
        with pytest.raises(StoreError, match=rf"embedded with {key}=.* but params have audio\.{key}=") as err:
            store.require_audio(dataclasses.replace(same, **change))
        assert store.url in str(err.value)


def test_open_errors(tmp_path):
    with pytest.raises(StoreError, match="missing zarr.json"):
        EmbeddingStore.open(str(tmp_path / "nothing"))
    zarr.open_group(str(tmp_path / "plain"), mode="w")
    with pytest.raises(StoreError, match="not an embedding store"):
        EmbeddingStore.open(str(tmp_path / "plain"))


def test_open_current(tmp_path):
    out = str(tmp_path / "out")
    with pytest.raises(StoreError, match="no store.json.*run `ssondo embed`"):
        open_current(out)
    partial = build(f"{out}/stores/a", shards=(0,), finalise=False)
    write_pointer(out, partial)
    assert json.loads((tmp_path / "out" / "store.json").read_text())["store"] == "stores/a"
    with pytest.raises(StoreError, match="incomplete"):
        open_current(out)
    done = build(f"{out}/stores/b", corpus="corpus-b")
    write_pointer(out, done)
    assert current_url(out) == f"{out}/stores/b"
    assert open_current(out, "corpus-b").fingerprint == meta(corpus="corpus-b")["store_fingerprint"]
    with pytest.raises(StoreError, match="built from corpus corpus-b"):
        open_current(out, "corpus-a")
    shutil.rmtree(tmp_path / "out" / "stores" / "b")
    with pytest.raises(StoreError, match="no embedding store"):
        open_current(out)


def test_fingerprint_depends_on_what_made_the_rows():
    base = meta()
    assert store_fingerprint(base) == store_fingerprint(dict(base, created="later", teacher="renamed"))
    for key, value in [("teacher_fingerprint", "w1"), ("corpus_fingerprint", "x"), ("window_seconds", 0.5),
                       ("hop_seconds", 0.125), ("last_window", "drop"), ("dtype", "float32"),
                       ("teacher_sample_rate", 16000)]:
        assert store_fingerprint(dict(base, **{key: value})) != store_fingerprint(base), key


def test_verify_finds_tampering(tmp_path):
    url = str(tmp_path / "s")
    build(url)
    # a changed value written through zarr decodes fine, but no longer matches the ledger checksum
    arr = zarr.open_array(f"{url}/window", mode="r+")
    arr[4, 2] = 7.0  # a valid row of clip 2
    arr[5, 2] = 1.0  # an invalid row, which must stay zero
    problems = verify_store(url)
    assert problems[:2] == ["shard 1: checksum mismatch, stored rows 4:8 differ from what was written",
                            "shard 1: rows flagged invalid are not stored as zeros"]
    assert problems[2].startswith("clip: differs from the mean of valid windows") and len(problems) == 3
    (tmp_path / "s" / "ledger" / "shard-000002.json").unlink()
    assert any("1/3 shard(s) not written: [2]" in p for p in verify_store(url))


def test_verify_finds_wrong_clip_means_and_counts(tmp_path):
    url = str(tmp_path / "s")
    build(url)
    zarr.open_array(f"{url}/clip", mode="r+")[0, 0] = 100.0
    entry = json.loads((tmp_path / "s" / "ledger" / "shard-000000.json").read_text())
    entry["nan_rows"] = 3
    (tmp_path / "s" / "ledger" / "shard-000000.json").write_text(json.dumps(entry))
    problems = verify_store(url)
    assert "shard 0: ledger counts 3 invalid row(s), the mask has 1" in problems
    assert any(p.startswith("clip: differs from the mean of valid windows") for p in problems)


def test_info(tmp_path):
    store = build(str(tmp_path / "s"))
    info = store.info()
    assert (info["n_clips"], info["n_windows"], info["dim"], info["n_shards"], info["shards_done"]) == (5, 12, 6, 3, 3)
    assert (info["nan_rows"], info["invalid_clips"], info["complete"], info["teacher"]) == (2, 1, True, "toy")
    assert info["disk_bytes"] > 0


def test_nan_data_is_returned_but_a_lost_chunk_is_refused(tmp_path):
    """NaN that was written reads back as NaN; the same NaN from a deleted chunk file is an error naming the rows."""
    emb, valid = rows_and_mask()
    emb[4:8] = np.nan  # a whole shard of NaN: zarr would skip writing it unless every chunk is written
    store = EmbeddingStore.create(str(tmp_path / "s"), LAYOUT, meta(), index())
    for s in range(LAYOUT.n_shards):
        lo, hi = LAYOUT.shard_range(s)
        store.write_shard(s, emb[lo:hi], valid[lo:hi], {})
    assert np.isnan(store.read("window")[4:8]).all()
    shard_file = tmp_path / "s" / "window" / "c" / "1" / "0"
    assert shard_file.exists()
    shard_file.unlink()
    with pytest.raises(StoreError, match="rows 4:8 of window read back as NaN because their chunk file is missing"):
        store.read("window")
    assert store.read("window", slice(0, 4)).shape == (4, 6)  # rows of other shards still read


def test_commits_in_row_order_close_a_shard(tmp_path):
    """Rows are committed in order inside a shard; only commits that cover it, intact, close it into the ledger."""
    store = build(str(tmp_path / "s"), shards=(), finalise=False)
    emb, valid = rows_and_mask()
    store.commit_rows(1, 4, emb[4:6], valid[4:6], {"nan_rows": 0, "zero_rows": 1, "rows": 2})
    with pytest.raises(StoreError, match=r"cannot commit rows 7:8 of shape \(1, 6\); its next commit starts at row 6"):
        store.commit_rows(1, 7, emb[7:8], valid[7:8], {})
    with pytest.raises(StoreError, match="shard 1: its committed rows do not cover 4:8"):
        store.close_shard(1)
    assert store.resume_row(1) == 6 and store.info()["windows_committed"] == 2
    store.commit_rows(1, 6, emb[6:8], valid[6:8], {"nan_rows": 0, "zero_rows": 0, "rows": 2})
    store.close_shard(1)
    assert store.done_shards() == {1} and store.progress(1) == []
    want = hashlib.sha256(emb[4:8].astype(np.float16).tobytes() + valid[4:8].tobytes()).hexdigest()
    assert store.ledger_entry(1) == {"nan_rows": 0, "zero_rows": 1, "rows": 4, "shard": 1, "start": 4, "stop": 8,
                                     "checksum": want}
    for s in (0, 2):
        lo, hi = LAYOUT.shard_range(s)
        store.write_shard(s, emb[lo:hi], valid[lo:hi], {"nan_rows": 0, "zero_rows": int((~valid[lo:hi]).sum())})
    store.commit_rows(0, 0, emb[0:2], valid[0:2], {})  # a stale record, as a kill just after closing shard 0 leaves
    store.finalise()
    assert not list((tmp_path / "s" / "ledger").glob("progress-*")) and verify_store(store.url) == []


def test_resume_trusts_only_recorded_intact_rows(tmp_path):
    """Changed, unrecorded or undecodable rows are not resumed from: the shard restarts on cleared files."""
    store = build(str(tmp_path / "s"), shards=(), finalise=False)
    emb, valid = rows_and_mask()
    blocks = tmp_path / "s" / "window" / "c"
    store.commit_rows(0, 0, emb[0:2], valid[0:2], {})
    assert store.resume_row(0) == 2
    zarr.open_array(f"{store.url}/window", mode="r+")[1, 0] = 5.0  # changed after its commit
    assert store.resume_row(0) == 0 and store.progress(0) == [] and not (blocks / "0" / "0").exists()
    store.group["window"][4:6] = emb[4:6]  # written, but killed before the record
    assert store.resume_row(1) == 4 and not (blocks / "1" / "0").exists()
    store.commit_rows(2, 8, emb[8:10], valid[8:10], {})
    block = blocks / "2" / "0"
    block.write_bytes(block.read_bytes()[:10])  # cut short by a crash: a partial write into it would fail
    assert store.resume_row(2) == 8
    store.write_shard(2, emb[8:12], valid[8:12], {})
    assert np.array_equal(store.read("window", slice(8, 12)), emb[8:12].astype(np.float16))
