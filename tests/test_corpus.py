"""HDF5 corpus: bit-exact round trips, row alignment, fingerprint, atomic publish."""
from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from pipeline.corpus import (INT16_SCALE, Corpus, CorpusError, CorpusWriter, corpus_fingerprint, decode_samples,
                             encode_samples, manifest_path)

ROOT = Path(__file__).resolve().parents[1]


def _clips(seed: int = 0) -> list[np.ndarray]:
    """Random waveforms including exact full scale and out-of-range values (which int16 clips)."""
    rng = np.random.default_rng(seed)
    clips = [rng.uniform(-1.2, 1.2, n).astype(np.float32) for n in (1, 17, 5000, 3)]
    clips[2][:4] = [1.0, -1.0, 0.5 / INT16_SCALE, -1.5 / INT16_SCALE]
    return clips


def _write(path: Path, clips, ids=None, fmt="int16", rate=16000, settings=None):
    writer = CorpusWriter(path, rate, fmt, settings)
    for i, c in enumerate(clips):
        writer.append(ids[i] if ids else f"c{i}", c)
    return writer.close()


def test_int16_round_trip_is_bit_exact(tmp_path):
    clips = _clips()
    info = _write(tmp_path / "corpus.h5", clips)
    expected = [encode_samples(c, "int16") for c in clips]
    with h5py.File(info.path) as f:
        assert f["audio"].dtype == np.int16
        np.testing.assert_array_equal(f["audio"][:], np.concatenate(expected))
        np.testing.assert_array_equal(f["offset"][:], [0, 1, 18, 5018])
        np.testing.assert_array_equal(f["length"][:], [1, 17, 5000, 3])
    corpus = Corpus(info.path)
    assert len(corpus) == 4 and corpus.sample_rate == 16000 and corpus.sample_format == "int16"
    for row, (c, stored) in enumerate(zip(clips, expected)):
        got = corpus.clip(row)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, stored.astype(np.float32) / np.float32(INT16_SCALE))
        np.testing.assert_array_equal(encode_samples(got, "int16"), stored)  # re-encoding is lossless
        inside = np.abs(c) <= 1
        assert np.abs(got[inside] - c[inside]).max() <= 0.5 / INT16_SCALE + 1e-7
        np.testing.assert_array_equal(got[c > 1], 1.0)
        np.testing.assert_array_equal(got[c < -1], -1.0)


def test_int16_scale_values():
    stored = encode_samples(np.array([1.0, -1.0, 0.0, 2.0, -2.0], dtype=np.float32), "int16")
    assert stored.tolist() == [32767, -32767, 0, 32767, -32767]
    np.testing.assert_array_equal(decode_samples(stored), np.array([1, -1, 0, 1, -1], dtype=np.float32))


def test_float16_round_trip(tmp_path):
    clips = _clips(1)
    corpus = Corpus(_write(tmp_path / "corpus.h5", clips, fmt="float16").path)
    assert corpus.sample_format == "float16"
    for i, c in enumerate(clips):
        np.testing.assert_array_equal(corpus.clip(i), c.astype(np.float16).astype(np.float32))


def test_segment_reads_and_zero_pads(tmp_path):
    clips = _clips()
    corpus = Corpus(_write(tmp_path / "corpus.h5", clips).path)
    whole = corpus.clip(2)
    np.testing.assert_array_equal(corpus.segment(2, 100, 50), whole[100:150])
    tail = corpus.segment(2, 4990, 30)
    np.testing.assert_array_equal(tail[:10], whole[4990:])
    assert not tail[10:].any()
    assert not corpus.segment(2, 6000, 8).any()
    # reading just past clip 1 must not leak clip 2's first samples
    assert not corpus.segment(1, 0, 40)[17:].any()
    with pytest.raises(ValueError):
        corpus.segment(2, -1, 4)


def test_fingerprint_depends_on_ids_lengths_and_settings_only(tmp_path):
    clips, crop = _clips(), {"max_seconds": None}
    base = _write(tmp_path / "a.h5", clips, settings=crop).fingerprint
    assert _write(tmp_path / "b.h5", clips, settings=crop).fingerprint == base
    assert _write(tmp_path / "c.h5", [c * 0.5 for c in clips], settings=crop).fingerprint == base  # content is not hashed
    assert _write(tmp_path / "d.h5", clips, ids=["c0", "c1", "c2", "x"], settings=crop).fingerprint != base
    assert _write(tmp_path / "e.h5", clips[:3] + [clips[3][:2]], settings=crop).fingerprint != base
    assert _write(tmp_path / "f.h5", clips, settings={"max_seconds": 5.0}).fingerprint != base
    assert _write(tmp_path / "g.h5", clips, rate=32000, settings=crop).fingerprint != base
    assert _write(tmp_path / "h.h5", clips, fmt="float16", settings=crop).fingerprint != base
    assert Corpus(tmp_path / "a.h5").fingerprint == base


def test_fingerprint_function_is_order_free_in_settings_and_order_sensitive_in_clips():
    fp = corpus_fingerprint(["a", "b"], [3, 4], {"x": 1, "y": 2})
    assert fp == corpus_fingerprint(["a", "b"], [3, 4], {"y": 2, "x": 1})
    assert fp != corpus_fingerprint(["b", "a"], [4, 3], {"x": 1, "y": 2})
    assert len(fp) == 16


def test_partial_file_until_close_and_abort_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "corpus.h5"
    writer = CorpusWriter(target, 16000)
    writer.append("a", np.zeros(10, dtype=np.float32))
    assert not target.exists() and (tmp_path / "out" / "corpus.h5.partial").exists()
    writer.abort()
    assert not target.exists() and not (tmp_path / "out" / "corpus.h5.partial").exists()


def test_crashed_writer_publishes_no_corpus(tmp_path):
    target = tmp_path / "corpus.h5"
    code = textwrap.dedent(f"""
        import os, numpy as np
        from pipeline.corpus import CorpusWriter
        w = CorpusWriter({str(target)!r}, 16000)
        w.append("a", np.ones(1000, dtype=np.float32) * 0.1)
        os._exit(3)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert not target.exists()
    with pytest.raises(CorpusError, match="does not exist"):
        Corpus(target)


def test_writer_rejects_bad_waveforms(tmp_path):
    writer = CorpusWriter(tmp_path / "corpus.h5", 16000)
    with pytest.raises(CorpusError, match="1-D"):
        writer.append("stereo", np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(CorpusError, match="NaN"):
        writer.append("nan", np.array([0.1, np.nan], dtype=np.float32))
    writer.abort()
    with pytest.raises(CorpusError, match="sample_format"):
        CorpusWriter(tmp_path / "x.h5", 16000, "int8")


def test_empty_corpus(tmp_path):
    info = _write(tmp_path / "corpus.h5", [])
    corpus = Corpus(info.path)
    assert len(corpus) == 0 and info.n_clips == 0


def test_open_errors_are_corpus_errors(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        Corpus(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(CorpusError, match="not readable"):
        Corpus(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "half.h5", "w") as f:
        f.create_dataset("audio", data=np.zeros(4, dtype=np.int16))
    with pytest.raises(CorpusError, match="incomplete"):
        Corpus(tmp_path / "half.h5")


def test_pickle_drops_the_handle_and_reopens(tmp_path):
    clips = _clips()
    corpus = Corpus(_write(tmp_path / "corpus.h5", clips).path)
    first = corpus.clip(2)
    assert corpus._file is not None
    clone = pickle.loads(pickle.dumps(corpus))
    assert clone._file is None
    np.testing.assert_array_equal(clone.clip(2), first)
    corpus.close()
    np.testing.assert_array_equal(corpus.clip(2), first)


def test_manifest_must_be_row_aligned(tmp_path):
    corpus = Corpus(_write(tmp_path / "corpus.h5", _clips()).path)
    with pytest.raises(CorpusError, match="does not exist"):
        corpus.manifest()
    pd.DataFrame({"clip_id": ["c0", "c1", "c2"]}).to_parquet(manifest_path(corpus.path))
    with pytest.raises(CorpusError, match="3 rows but the corpus has 4"):
        corpus.manifest()
    pd.DataFrame({"clip_id": ["c0", "c1", "c2", "c3"]}).to_parquet(manifest_path(corpus.path))
    assert corpus.manifest()["clip_id"].tolist() == ["c0", "c1", "c2", "c3"]


@pytest.mark.parametrize("codec", ["pcm16", "flac"])
def test_append_file_joins_parts_into_the_corpus_written_at_once(tmp_path, codec):
    clips, ids = _clips() + _clips(1), [f"c{i}" for i in range(8)]

    def writer(name):
        return CorpusWriter(tmp_path / name, 16000, settings={"max_seconds": None}, codec=codec)

    whole, parts = writer("whole.h5"), [writer("a.h5"), writer("b.h5")]
    for i, clip in enumerate(clips):
        whole.append(ids[i], clip)
        parts[i // 5].append(ids[i], clip)
    expected = whole.close()
    for part in parts:
        part.close(extra={"note": np.arange(3)})  # extra datasets (a part's rejections) travel along, unread
    joined = writer("joined.h5")
    joined.append_file(tmp_path / "a.h5", ids[:5])
    joined.append_file(tmp_path / "b.h5", ids[5:])
    info = joined.close()
    assert info.fingerprint == expected.fingerprint and info.n_clips == 8
    with h5py.File(expected.path) as a, h5py.File(info.path) as b:
        assert sorted(a) == sorted(b) and dict(a.attrs) == dict(b.attrs)
        for name in a:
            np.testing.assert_array_equal(a[name][:], b[name][:])
    with pytest.raises(CorpusError, match="a.h5 does not hold the 5 clips expected"):
        writer("wrong.h5").append_file(tmp_path / "a.h5", ["x"] + ids[1:5])  # other clip ids
    other = CorpusWriter(tmp_path / "other.h5", 16000, settings={"max_seconds": 2.0}, codec=codec)
    with pytest.raises(CorpusError, match="b.h5 does not hold"):
        other.append_file(tmp_path / "b.h5", ids[5:])  # other settings
