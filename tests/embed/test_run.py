"""Extraction: values, reuse, NaN handling, resume mid-shard after SIGKILL or a failure, disk full, 2-process gloo
and writers that share a store by claiming its shards."""
from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from embed_run import CFG, RATE, TEACHER_RATE, launch, wait_for
from toy_teacher import ToyTeacher

from pipeline.audio.decode import resample
from pipeline.corpus import Corpus, CorpusWriter
from pipeline.embed import EmbedConfig, extract, plan_batches, window_index
from pipeline.store import EmbeddingStore, StoreError, store_contents, verify_store


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    """12 clips of noisy tones, 0.2 to 1.63 s at 16 kHz."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.h5"
    writer, rng = CorpusWriter(path, RATE), np.random.default_rng(0)
    for i in range(12):
        n = int((0.2 + 0.13 * i) * RATE)
        t = np.arange(n) / RATE
        writer.append(f"c{i}", (0.4 * np.sin(2 * np.pi * (150 + 70 * i) * t) + 0.05 * rng.standard_normal(n))
                      .astype(np.float32))
    writer.close()
    return Corpus(path)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """An uninterrupted single-process run: (result, snapshot, teacher calls)."""
    out = str(tmp_path_factory.mktemp("ref"))
    teacher = ToyTeacher(sample_rate=TEACHER_RATE)
    result = extract(EmbedConfig(teacher="toy", **CFG), teacher, corpus, out)
    return result, store_contents(result.url), teacher.calls





def test_rows_are_the_teachers_output_per_window(corpus, reference):
    result, snap, calls = reference
    store = EmbeddingStore.open(result.url).require_complete(corpus.fingerprint)
    index = window_index(corpus.lengths, 4000, 4000, "pad")
    assert store.layout.n_windows == 48 == len(index["window_clip"]) and store.layout.n_shards == 12
    for k, v in index.items():
        assert np.array_equal(store.array(k)[:], v)
    assert calls == len(plan_batches(store.layout, [(0, 48)], 2)) == 24
    # each window on its own: cut from the clip, resampled, zero-padded, embedded in a batch of one
    teacher, stored = ToyTeacher(sample_rate=TEACHER_RATE), store.array("window")[:].astype(np.float32)
    for row in (0, 7, 23, 47):
        clip, start = int(index["window_clip"][row]), int(index["window_start"][row])
        wave = np.zeros(2000, np.float32)
        piece = resample(corpus.clip(clip)[start: start + 4000], RATE, TEACHER_RATE)[:2000]
        wave[: len(piece)] = piece
        want = teacher.embed(torch.from_numpy(wave)[None]).numpy()[0]
        np.testing.assert_allclose(stored[row], want, rtol=2e-3, atol=2e-3)
    means = [stored[index["window_clip"] == c].astype(np.float64).mean(0) for c in range(12)]
    np.testing.assert_allclose(store.array("clip")[:].astype(np.float64), np.stack(means), rtol=2e-3, atol=1e-3)
    assert store.array("window_valid")[:].all() and store.array("clip_valid")[:].all()
    report = result.report
    assert (report["clips"], report["windows"], report["dim"], report["nan_rows"], report["invalid_clips"]) == \
        (12, 48, 24, 0, 0)
    assert verify_store(result.url, corpus.fingerprint) == []


def test_reuse_and_separate_stores(corpus, reference, tmp_path):
    result, snap, _ = reference
    out = str(Path(result.url).parent)
    again = ToyTeacher(sample_rate=TEACHER_RATE)
    second = extract(EmbedConfig(teacher="toy", **CFG), again, corpus, out)
    assert (second.reused, second.url, again.calls) == (True, result.url, 0)
    assert second.report == result.report
    other_window = extract(EmbedConfig(teacher="toy", **dict(CFG, window_seconds=0.5)),
                           ToyTeacher(sample_rate=TEACHER_RATE), corpus, out)
    other_teacher = extract(EmbedConfig(teacher="toy", **CFG), ToyTeacher(sample_rate=TEACHER_RATE, seed=1),
                            corpus, out)
    urls = {result.url, other_window.url, other_teacher.url}
    assert len(urls) == 3 and not other_window.reused and not other_teacher.reused
    assert EmbeddingStore.open(other_window.url).layout.n_windows == len(
        window_index(corpus.lengths, 8000, 4000, "pad")["window_clip"]) == 37
    assert store_contents(result.url) == snap  # the first store was never touched


def test_nan_rows_are_flagged_and_zeroed(corpus, tmp_path):
    teacher = ToyTeacher(sample_rate=TEACHER_RATE, nan_every=2)
    result = extract(EmbedConfig(teacher="toy", **CFG), teacher, corpus, str(tmp_path))
    store = EmbeddingStore.open(result.url)
    # batches of 2 start at shard starts (multiples of 4), so the toy teacher's NaN rows are the even rows
    rows = np.arange(48)
    want_valid = rows % 2 == 1
    assert np.array_equal(store.array("window_valid")[:], want_valid)
    window = store.array("window")[:]
    assert np.isfinite(window).all() and not window[~want_valid].any() and np.abs(window[want_valid]).min(1).all()
    assert [store.ledger_entry(s)["nan_rows"] for s in range(12)] == [2] * 12
    assert result.report["nan_rows"] == 24
    clip_of = store.array("window_clip")[:]
    want_clip_valid = np.array([want_valid[clip_of == c].any() for c in range(12)])
    assert want_clip_valid.tolist() == [False] + [True] * 11  # clip 0 has one window, row 0
    assert np.array_equal(store.array("clip_valid")[:], want_clip_valid)
    assert result.report["invalid_clips"] == 1 and not store.array("clip")[0].any()
    mean = window[(clip_of == 3) & want_valid].astype(np.float64).mean(0)
    np.testing.assert_allclose(store.array("clip")[3].astype(np.float64), mean, rtol=1e-3, atol=1e-4)
    assert verify_store(result.url) == []


class LoudToy(ToyTeacher):
    """Rows past float16's range on the first row of every batch."""

    def embed(self, waveforms, lengths=None):
        out = super().embed(waveforms, lengths)
        out[0] *= 1e6
        return out


def test_float16_overflow_counts_as_invalid(corpus, tmp_path):
    result = extract(EmbedConfig(teacher="toy", **CFG), LoudToy(sample_rate=TEACHER_RATE), corpus, str(tmp_path))
    valid = EmbeddingStore.open(result.url).array("window_valid")[:]
    assert np.array_equal(valid, np.arange(48) % 2 == 1) and result.report["nan_rows"] == 24
    wide = extract(EmbedConfig(teacher="toy", **dict(CFG, dtype="float32")), LoudToy(sample_rate=TEACHER_RATE),
                   corpus, str(tmp_path))
    assert EmbeddingStore.open(wide.url).array("window_valid")[:].all()





def committed_rows(url: str) -> int:
    """Rows a store records as written: closed shards plus the commits of open ones."""
    if not (Path(url) / "ledger").exists():
        return 0
    store = EmbeddingStore.open(url)
    done = store.done_shards()
    return 4 * len(done) + sum(c["stop"] - c["start"] for s in set(range(12)) - done for c in store.progress(s))


@pytest.mark.parametrize("kill_after", [None, 1, 2, 13])
def test_resume_after_sigkill_is_bit_identical(corpus, reference, tmp_path, kill_after):
    """SIGKILL after n commits of one chunk (2 rows) each, or (None) as soon as the store folder appears (usually
    mid-creation). 1 and 13 leave a shard half committed, 2 a shard fully committed but not closed."""
    out = tmp_path / "out"
    proc = launch(tmp_path, corpus, out, sleep=0.02, hang_after=kill_after)
    if kill_after is None:
        wait_for(lambda: any(p.is_dir() for p in out.glob("*")), proc)
    else:
        wait_for((out / "hung").exists, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    url = str(out / reference[0].fingerprint)
    kept = committed_rows(url)
    assert kept == 2 * (kill_after or 0)
    teacher = ToyTeacher(sample_rate=TEACHER_RATE)
    result = extract(EmbedConfig(teacher="toy", **CFG), teacher, corpus, str(out))
    assert not result.reused and result.url == url
    assert teacher.calls == (48 - kept) // 2  # only the rows never committed were embedded again
    assert result.report["windows_reused"] == kept and result.report["windows_this_run"] == 48 - kept
    assert store_contents(url) == reference[1]


class FailingToy(ToyTeacher):
    """Raises on call `fail_at` (1-based), as a crash in the middle of a shard would."""

    def __init__(self, fail_at: int, **kw):
        super().__init__(**kw)
        self.fail_at = fail_at

    def embed(self, waveforms, lengths=None):
        if self.calls + 1 == self.fail_at:
            raise RuntimeError("injected teacher failure")
        return super().embed(waveforms, lengths)


@pytest.mark.parametrize("commit_seconds,kept", [(60.0, 4), (1e-6, 6)])
def test_interrupted_mid_shard_keeps_committed_rows(corpus, tmp_path, commit_seconds, kept):
    """Chunks of 4 rows, shards of 8, batches of 2; the teacher fails on its 4th batch, after rows 0:6. Chunk commits
    keep rows 0:4; commits due every batch (commit_seconds ~ 0) keep 0:6. The rerun embeds only the rest and the
    store is bitwise the uninterrupted one."""
    cfg = EmbedConfig(teacher="toy", **dict(CFG, chunk_rows=4, shard_rows=8, commit_seconds=commit_seconds))
    whole = extract(cfg, ToyTeacher(sample_rate=TEACHER_RATE), corpus, str(tmp_path / "whole"))
    out = str(tmp_path / "cut")
    with pytest.raises(RuntimeError, match="injected teacher failure"):
        extract(cfg, FailingToy(4, sample_rate=TEACHER_RATE), corpus, out)
    url = f"{out}/{whole.fingerprint}"
    store = EmbeddingStore.open(url)
    assert store.done_shards() == set() and store.progress(0)[-1]["stop"] == kept
    assert len(store.progress(0)) == (1 if commit_seconds == 60.0 else 3)
    teacher = ToyTeacher(sample_rate=TEACHER_RATE)
    again = extract(cfg, teacher, corpus, out)
    assert teacher.calls == (48 - kept) // 2 and again.report["windows_reused"] == kept
    assert store_contents(url) == store_contents(whole.url)
    assert verify_store(url, corpus.fingerprint) == []
    assert not list(Path(url, "ledger").glob("progress-*"))  # superseded by the shards' ledger entries


def test_changed_committed_rows_are_redone(corpus, reference, tmp_path):
    """Committed rows that no longer match their checksum are not reused: the shard is redone from its start."""
    out = str(tmp_path)
    with pytest.raises(RuntimeError):
        extract(EmbedConfig(teacher="toy", **CFG), FailingToy(4, sample_rate=TEACHER_RATE), corpus, out)
    url = f"{out}/{reference[0].fingerprint}"
    assert committed_rows(url) == 6  # shard 0 closed, shard 1 holds rows 4:6
    zarr.open_array(f"{url}/window", mode="r+")[4, 0] = 9.0
    teacher = ToyTeacher(sample_rate=TEACHER_RATE)
    result = extract(EmbedConfig(teacher="toy", **CFG), teacher, corpus, out)
    assert result.report["windows_reused"] == 4 and teacher.calls == 22
    assert store_contents(url) == reference[1]


def test_disk_full_fails_clearly_and_nothing_half_written_is_trusted(corpus, reference, tmp_path, monkeypatch):
    """ENOSPC while rewriting shard 1's file, after half of it landed (a store without atomic writes): the run fails
    naming the store and file; the rows shard 1 had committed are gone with that file, and the rerun redoes them."""
    real_set, writes = zarr.storage.LocalStore.set, []

    async def disk_fills(self, key, value):
        if key == "window/c/1/0":
            writes.append(key)
            if len(writes) == 2:  # the commit of rows 6:8; rows 4:6 were committed into the same file before
                data = value.to_bytes()
                (self.root / key).write_bytes(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.root / key))
        return await real_set(self, key, value)

    monkeypatch.setattr(zarr.storage.LocalStore, "set", disk_fills)
    url = f"{tmp_path}/{reference[0].fingerprint}"
    with pytest.raises(StoreError, match=rf"store {url}: cannot write rows 6:8: No space left on device "
                                         rf"\({url}/window/c/1/0\).*re-run `ssondo embed` to resume"):
        extract(EmbedConfig(teacher="toy", **CFG), ToyTeacher(sample_rate=TEACHER_RATE), corpus, str(tmp_path))
    monkeypatch.undo()
    store = EmbeddingStore.open(url)
    assert 1 not in store.done_shards() and store.progress(1)[-1]["stop"] == 6 and not store.complete
    kept = committed_rows(url)  # other shards' commits that landed before the failure was seen count
    teacher = ToyTeacher(sample_rate=TEACHER_RATE)
    result = extract(EmbedConfig(teacher="toy", **CFG), teacher, corpus, str(tmp_path))
    assert result.report["windows_reused"] == kept - 2  # rows 4:6 were recorded, but their file was cut: redone
    assert teacher.calls == (48 - kept + 2) // 2
    assert store_contents(url) == reference[1] and verify_store(url, corpus.fingerprint) == []


def test_two_process_gloo_matches_one_process(corpus, reference, tmp_path):
    out = tmp_path / "out"
    proc = launch(tmp_path, corpus, out, sleep=0.0, torchrun=True)
    log, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, log
    results = sorted((json.loads(line.split("RESULT", 1)[1]) for line in log.splitlines() if "RESULT" in line),
                     key=lambda r: r["rank"])
    assert [r["rank"] for r in results] == [0, 1] and all(not r["reused"] for r in results)
    assert store_contents(results[0]["url"]) == reference[1]  # bitwise equal, ledger checksums included
    wrote = {r: json.loads((out / f"wrote-{r}.json").read_text()) for r in (0, 1)}
    assert sorted(wrote[0] + wrote[1]) == list(range(12))  # every shard by exactly one rank
    assert {0, 2} <= set(wrote[0]) and {1, 3} <= set(wrote[1])  # each rank starts with its own share


def test_concurrent_runs_split_the_shards_and_write_each_row_once(corpus, reference, tmp_path):
    """Two runs started together on one new store: one creates it while the other waits for the creation, then they
    take shards by claim; every shard is closed by exactly one of them and the store is the single run's, bitwise."""
    out = tmp_path / "out"
    procs = [launch(tmp_path, corpus, out / "logs" / str(i), sleep=0.3, cfg={"claim_seconds": 30.0},
                    stores=out) for i in range(2)]
    logs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    wrote = [json.loads((out / "logs" / str(i) / "wrote-0.json").read_text()) for i in range(2)]
    assert sorted(wrote[0] + wrote[1]) == list(range(12)) and wrote[0] and wrote[1], wrote
    urls = {json.loads(log.split("RESULT", 1)[1])["url"] for log in logs}
    assert len(urls) == 1
    url = urls.pop()
    assert verify_store(url, corpus.fingerprint) == [] and store_contents(url) == reference[1]
    assert not list(Path(url, "claims").glob("*.json"))  # every claim given back


def test_a_rerun_resumes_at_once_after_a_sigkill_with_a_forked_worker_alive(corpus, reference, tmp_path, capfd):
    """The writer (with a forked DataLoader worker) is SIGKILLed between commits; the worker outlives it for a
    while. A rerun started at once takes over the dead writer's claim without waiting for its expiry (one hour
    here) and resumes from the last commit."""
    out = tmp_path / "out"
    proc = launch(tmp_path, corpus, out, sleep=0.0, hang_at_call=4, cfg={"workers": 1, "claim_seconds": 3600.0})
    wait_for((out / "hung").exists, proc)
    workers = children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert workers and all(alive(w) for w in workers)  # the forked worker is still there
    assert list(out.glob("*/claims/shard-*.json"))  # and so is the dead writer's claim
    kept = committed_rows(str(out / reference[0].fingerprint))
    assert kept >= 4  # shard 0 at least; rows 4:6 too once their commit landed before the kill
    teacher = ToyTeacher(sample_rate=TEACHER_RATE)
    result = extract(EmbedConfig(teacher="toy", **dict(CFG, claim_seconds=3600.0)), teacher, corpus, str(out))
    assert result.report["windows_reused"] == kept and teacher.calls == (48 - kept) // 2
    assert "waiting for" not in capfd.readouterr().err
    assert store_contents(result.url) == reference[1]


def children(pid: int) -> list[int]:
    """Pids of the direct children of process `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_creation_cut_off_is_redone_but_damage_is_not_wiped(corpus, reference, tmp_path):
    url = str(tmp_path / reference[0].fingerprint)
    zarr.open_group(url, mode="w-")  # what a kill between creating the group and writing its attributes leaves
    result = extract(EmbedConfig(teacher="toy", **CFG), ToyTeacher(sample_rate=TEACHER_RATE), corpus, str(tmp_path))
    assert result.url == url and store_contents(url) == reference[1]
    (Path(url) / "zarr.json").write_text("{")  # damaged after shards were written: refuse, never delete
    with pytest.raises(StoreError, match="holds written shards but cannot be opened.*ssondo store verify"):
        extract(EmbedConfig(teacher="toy", **CFG), ToyTeacher(sample_rate=TEACHER_RATE), corpus, str(tmp_path))
    assert (Path(url) / "ledger").is_dir()


def test_reused_store_without_saved_report_gets_its_counts(corpus, tmp_path):
    teacher = ToyTeacher(sample_rate=TEACHER_RATE, nan_every=2)
    first = extract(EmbedConfig(teacher="toy", **CFG), teacher, corpus, str(tmp_path))
    (Path(first.url) / "report.json").unlink()  # as left by stores written before reports were kept per store
    again = extract(EmbedConfig(teacher="toy", **CFG), ToyTeacher(sample_rate=TEACHER_RATE, nan_every=2), corpus,
                    str(tmp_path))
    assert again.reused and again.report["windows_this_run"] == 0
    for key in ("clips", "windows", "dim", "nan_rows", "invalid_clips", "store_fingerprint"):
        assert again.report[key] == first.report[key], key


def test_a_store_at_the_earlier_path_is_found_and_reused(corpus, reference, tmp_path):
    """Stores written before the layout change sit at <teacher dir>/stores/<fingerprint>: extract finds it there
    (finished: reused without a teacher call; the pointer names it) rather than embedding again."""
    out = tmp_path / "toy"
    first = extract(EmbedConfig(teacher="toy", **CFG), ToyTeacher(sample_rate=TEACHER_RATE), corpus, str(out))
    assert first.url == f"{out}/{first.fingerprint}"
    (out / "stores").mkdir()
    Path(first.url).rename(out / "stores" / first.fingerprint)
    teacher = ToyTeacher(sample_rate=TEACHER_RATE)
    again = extract(EmbedConfig(teacher="toy", **CFG), teacher, corpus, str(out))
    assert again.reused and teacher.calls == 0 and again.url == f"{out}/stores/{first.fingerprint}"
    assert store_contents(again.url) == reference[1] and not Path(first.url).exists()


def test_a_reader_never_reads_a_store_still_being_written(corpus, reference, tmp_path):
    """While a writer is between commits (5 commits of 2 rows: shards 0 and 1 closed, shard 2 half written), a
    reader opening the store for training is refused with how many shards are done; once the writer finishes, every
    row the reader gets is the uninterrupted run's row."""
    out = tmp_path / "out"
    proc = launch(tmp_path, corpus, out, sleep=0.0, hang_after=5)
    try:
        wait_for((out / "hung").exists, proc)
        store = EmbeddingStore.open(str(out / reference[0].fingerprint))
        with pytest.raises(StoreError, match=r"is incomplete \(2/12 shards written\); re-run `ssondo embed`"):
            store.require_complete(corpus.fingerprint)
        assert committed_rows(store.url) == 10
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    result = extract(EmbedConfig(teacher="toy", **CFG), ToyTeacher(sample_rate=TEACHER_RATE), corpus, str(out))
    done = EmbeddingStore.open(result.url).require_complete(corpus.fingerprint)
    assert store_contents(done.url) == reference[1]
