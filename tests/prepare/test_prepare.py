"""prepare_corpus on real good and bad files, folder scans and manifests (CSV, Parquet, AudioSet)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from pipeline.audio.decode import decode
from pipeline.corpus import INT16_SCALE, Corpus
from pipeline.prepare import (PrepareConfig, prepare_corpus, read_input_manifest, scan_folder,
                              summarize_rejections)

RATE = 16000


def _run(tmp_path: Path, src: Path, **kw):
    cfg = PrepareConfig(input=str(src), output=str(tmp_path / "corpus"), sample_rate=RATE, workers=1, **kw)
    result = prepare_corpus(cfg)
    out = tmp_path / "corpus"
    return result, Corpus(out / "corpus.h5"), pd.read_csv(out / "rejected.csv", keep_default_na=False)


def _reasons(rejected: pd.DataFrame) -> dict[str, str]:
    return dict(zip(rejected["clip_id"], rejected["reason"]))


@pytest.fixture
def messy_folder(tmp_path, make_tone) -> Path:
    """Three good files (one 8-channel, one at 8 kHz, one at 96 kHz) and one real file per rejection reason."""
    d = tmp_path / "messy"
    d.mkdir()
    sf.write(d / "good8ch.wav", np.stack([make_tone(300.0 * (c + 1), 0.5, 44100, 0.1) for c in range(8)], 1), 44100)
    sf.write(d / "good8k.wav", make_tone(1000.0, 0.7, 8000), 8000)
    sf.write(d / "good96k.flac", make_tone(1000.0, 0.3, 96000), 96000)
    ok = (d / "good8k.wav").read_bytes()
    (d / "corrupt.wav").write_bytes(b"RIFX\x00\x13garbage-garbage-garbage-garbage" + ok[44:])
    (d / "truncated.flac").write_bytes((d / "good96k.flac").read_bytes()[:3000])
    (d / "zero.wav").write_bytes(b"")
    (d / "text.wav").write_text("not audio, just text\n" * 40)
    sf.write(d / "empty.wav", np.zeros((0, 1), dtype=np.float32), RATE)
    nan = make_tone(440.0, 0.3, RATE)
    nan[50] = np.nan
    sf.write(d / "nan.wav", nan, RATE, subtype="FLOAT")
    sf.write(d / "short.wav", make_tone(440.0, 0.05, RATE), RATE)
    sf.write(d / "dup.flac", make_tone(440.0, 0.3, RATE), RATE)
    sf.write(d / "dup.wav", make_tone(440.0, 0.3, RATE), RATE)  # same clip id "dup": rejected as the later row
    return d


def test_every_rejection_reason_and_resampled_inputs(tmp_path, messy_folder):
    result, corpus, rejected = _run(tmp_path, messy_folder)
    assert _reasons(rejected) == {"corrupt": "unreadable", "truncated": "unreadable", "zero": "unreadable",
                                  "text": "unreadable", "empty": "empty", "nan": "non_finite",
                                  "short": "too_short", "dup": "duplicate_id"}
    assert rejected.loc[rejected["clip_id"] == "dup", "path"].item().endswith("dup.wav")
    assert (rejected["detail"] != "").all()
    assert result.n_rejected == 8 and result.corpus.n_clips == 4
    manifest = corpus.manifest()
    assert manifest["clip_id"].tolist() == ["dup", "good8ch", "good8k", "good96k"]
    expected_len = {"good8ch": 0.5 * RATE, "good8k": 0.7 * RATE, "good96k": 0.3 * RATE}
    for row, cid in enumerate(manifest["clip_id"]):
        if cid in expected_len:
            assert abs(corpus.lengths[row] - expected_len[cid]) <= 1
        assert manifest["duration"][row] == corpus.lengths[row] / RATE
    for row in (2, 3):  # 8 kHz and 96 kHz tones land at 1 kHz at 16 kHz
        x = corpus.clip(row)
        assert abs(np.argmax(np.abs(np.fft.rfft(x * np.hanning(len(x))))) * RATE / len(x) - 1000) <= RATE / len(x)
    mix = corpus.clip(1)  # eight tones averaged: the mean of the decoded channels
    np.testing.assert_allclose(mix, decode(messy_folder / "good8ch.wav", RATE), atol=1 / INT16_SCALE)
    assert result.seconds == pytest.approx(corpus.lengths.sum() / RATE)


def test_summary_line(tmp_path, messy_folder):
    _run(tmp_path, messy_folder)
    line = summarize_rejections(tmp_path / "corpus" / "rejected.csv")
    assert line.startswith("8 input(s) rejected (unreadable=4, ")
    for part in ("empty=1", "non_finite=1", "too_short=1", "duplicate_id=1", "rejected.csv"):
        assert part in line


def test_fail_on_reject_fails_and_leaves_no_corpus(tmp_path, messy_folder):
    with pytest.raises(RuntimeError, match="8 input\\(s\\) rejected .*fail_on_reject"):
        _run(tmp_path, messy_folder, fail_on_reject=True)
    out = tmp_path / "corpus"
    assert not (out / "corpus.h5").exists() and not (out / "corpus.h5.partial").exists()
    assert len(pd.read_csv(out / "rejected.csv")) == 8  # the report is there to explain the failure


def test_nothing_left_fails_and_removes_the_previous_corpus(tmp_path, audio_folder):
    _run(tmp_path, audio_folder)
    assert (tmp_path / "corpus" / "corpus.h5").exists()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.wav").write_text("text")
    with pytest.raises(RuntimeError, match="no usable clip"):
        _run(tmp_path, bad)
    assert not (tmp_path / "corpus" / "corpus.h5").exists()
    assert not (tmp_path / "corpus" / "manifest.parquet").exists()


def test_clean_folder_with_fail_on_reject_succeeds(tmp_path, audio_folder):
    result, corpus, rejected = _run(tmp_path, audio_folder, fail_on_reject=True)
    assert result.n_rejected == 0 and rejected.empty and len(corpus) == 12
    assert summarize_rejections(tmp_path / "corpus" / "rejected.csv") == "no input rejected"
    manifest = corpus.manifest()
    assert manifest["clip_id"].tolist()[:3] == ["clip00", "clip02", "clip04"]
    assert set(manifest.columns) >= {"clip_id", "path", "duration", "labels", "split"}
    for row in (0, 5, 11):  # each row holds the file its manifest row names
        ref = decode(manifest["path"][row], RATE)
        np.testing.assert_allclose(corpus.clip(row), np.clip(ref, -1, 1), atol=0.5 / INT16_SCALE + 1e-6)


def test_relative_folder_input(tmp_path, audio_folder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = PrepareConfig(input="audio", output="out", sample_rate=RATE, workers=1)
    result = prepare_corpus(cfg)
    assert result.n_rejected == 0 and result.corpus.n_clips == 12


def test_a_folder_that_cannot_be_listed_is_reported(tmp_path, make_tone, monkeypatch):
    _write_wavs(tmp_path / "d", ["a.wav", "locked/b.wav"], make_tone)
    scandir = os.scandir

    def denied(path):  # as root, chmod would not stop the listing
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    found, rejected = scan_folder(tmp_path / "d")
    assert found["clip_id"].tolist() == ["a"]
    assert [(r["path"], r["reason"]) for r in rejected] == [("locked", "unreadable")]
    assert "Permission denied" in rejected[0]["detail"]


def test_worker_pool_gives_the_same_corpus(tmp_path, audio_folder):
    one = _run(tmp_path / "a", audio_folder)[1]
    cfg = PrepareConfig(input=str(audio_folder), output=str(tmp_path / "b"), sample_rate=RATE, workers=2)
    two = Corpus(prepare_corpus(cfg).corpus.path)
    assert one.fingerprint == two.fingerprint
    for row in range(len(one)):
        np.testing.assert_array_equal(one.clip(row), two.clip(row))


def test_max_seconds_crops_and_changes_the_fingerprint(tmp_path, audio_folder):
    full = _run(tmp_path / "a", audio_folder)[1]
    cropped = _run(tmp_path / "b", audio_folder, max_seconds=1.0)[1]
    assert cropped.lengths.max() == RATE
    np.testing.assert_array_equal(cropped.lengths, np.minimum(full.lengths, RATE))
    np.testing.assert_array_equal(cropped.clip(11), full.clip(11)[:RATE])
    assert cropped.fingerprint != full.fingerprint
    assert _run(tmp_path / "c", audio_folder)[1].fingerprint == full.fingerprint
    assert _run(tmp_path / "d", audio_folder, sample_format="float16")[1].fingerprint != full.fingerprint


def _write_wavs(folder: Path, names, make_tone):
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(folder / name, make_tone(500.0, 0.3, RATE), RATE)


def test_csv_manifest_paths_labels_and_safety(tmp_path, make_tone):
    root = tmp_path / "data"
    _write_wavs(root, ["a.wav", "sub/b.wav", "c.wav"], make_tone)
    _write_wavs(tmp_path, ["outside.wav"], make_tone)
    pd.DataFrame({
        "path": ["a.wav", "sub/b.wav", "c.wav", "missing.wav", "../outside.wav", str(tmp_path / "outside.wav"),
                 "sub/../a.wav"],
        "clip_id": ["A", "B", "A", "M", "O1", "O2", "A2"],
        "label": ["dog", "cat,bird", "dup", "x", "y", "z", "dog"],
        "split": ["train", "valid", "train", "train", "train", "train", "train"],
    }).to_csv(root / "manifest.csv", index=False)
    result, corpus, rejected = _run(tmp_path, root / "manifest.csv")
    assert _reasons(rejected) == {"A": "duplicate_id", "M": "missing", "O1": "outside_root", "O2": "outside_root"}
    assert "allow_outside_root" in rejected.loc[rejected["clip_id"] == "O1", "detail"].item()
    manifest = corpus.manifest()
    assert manifest[["clip_id", "labels", "split"]].values.tolist() == [
        ["A", "dog", "train"], ["B", "cat,bird", "valid"], ["A2", "dog", "train"]]
    assert manifest["path"][1] == str(root / "sub" / "b.wav")

    allowed, corpus, rejected = _run(tmp_path / "x", root / "manifest.csv", allow_outside_root=True)
    assert _reasons(rejected) == {"A": "duplicate_id", "M": "missing"}
    assert "O1" in corpus.manifest()["clip_id"].tolist()


def test_root_overrides_the_manifest_folder(tmp_path, make_tone):
    _write_wavs(tmp_path / "audio", ["a.wav"], make_tone)
    (tmp_path / "lists").mkdir()
    pd.DataFrame({"path": ["a.wav"]}).to_csv(tmp_path / "lists" / "m.csv", index=False)
    _, corpus, _ = _run(tmp_path, tmp_path / "lists" / "m.csv", root=str(tmp_path / "audio"))
    assert corpus.manifest()["clip_id"].tolist() == ["a"]


def test_symlink_into_the_root_is_followed(tmp_path, make_tone):
    # DVC's symlink cache links files from outside the workspace: the check is on the manifest's text
    _write_wavs(tmp_path / "store", ["real.wav"], make_tone)
    (tmp_path / "data").mkdir()
    os.symlink(tmp_path / "store" / "real.wav", tmp_path / "data" / "link.wav")
    pd.DataFrame({"path": ["link.wav"]}).to_csv(tmp_path / "data" / "m.csv", index=False)
    result, corpus, _ = _run(tmp_path, tmp_path / "data" / "m.csv")
    assert result.n_rejected == 0 and len(corpus) == 1


def test_parquet_manifest_with_label_lists(tmp_path, make_tone):
    _write_wavs(tmp_path / "d", ["a.wav", "b.wav"], make_tone)
    pd.DataFrame({"path": ["a.wav", "b.wav"], "clip_id": [1, 2], "labels": [["dog", "cat"], None],
                  "split": ["train", None], "score": [0.5, np.nan]}).to_parquet(tmp_path / "d" / "m.parquet")
    _, corpus, _ = _run(tmp_path, tmp_path / "d" / "m.parquet")
    manifest = corpus.manifest()
    assert manifest["clip_id"].tolist() == ["1", "2"]
    assert manifest["labels"].tolist() == ["dog,cat", ""]
    assert manifest["split"].tolist() == ["train", ""]
    assert manifest["score"].tolist() == ["0.5", ""]


AUDIOSET_CSV = """\
# Segments csv created Sun Mar  5 10:54:31 2017
# num_ytids=3, num_segs=3, num_unique_labels=5, num_positive_labels=6
# YTID, start_seconds, end_seconds, positive_labels
--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"
-0SdAVK79lg, 0.000, 10.000, "/m/012xff"
0FMdORf5iGs, 12.500, 22.500, "/m/03fwl,/m/04rlf,/m/09x0r"
"""


def test_read_audioset_segment_csv(tmp_path):
    (tmp_path / "segments.csv").write_text(AUDIOSET_CSV)
    df = read_input_manifest(tmp_path / "segments.csv", "{ytid}_{start:.0f}.wav")
    assert df["clip_id"].tolist() == ["--PJHxphWEs_30.000", "-0SdAVK79lg_0.000", "0FMdORf5iGs_12.500"]
    assert df["path"].tolist() == ["--PJHxphWEs_30.wav", "-0SdAVK79lg_0.wav", "0FMdORf5iGs_12.wav"]
    assert df["labels"].tolist() == ["/m/09x0r,/t/dd00088", "/m/012xff", "/m/03fwl,/m/04rlf,/m/09x0r"]
    assert df["end_seconds"].tolist() == ["40.000", "10.000", "22.500"]


def test_prepare_from_audioset_csv(tmp_path, make_tone):
    root = tmp_path / "as"
    _write_wavs(root, ["--PJHxphWEs.wav", "0FMdORf5iGs.wav"], make_tone)  # -0SdAVK79lg was never downloaded
    (root / "segments.csv").write_text(AUDIOSET_CSV)
    result, corpus, rejected = _run(tmp_path, root / "segments.csv")
    assert _reasons(rejected) == {"-0SdAVK79lg_0.000": "missing"}
    manifest = corpus.manifest()
    assert manifest["clip_id"].tolist() == ["--PJHxphWEs_30.000", "0FMdORf5iGs_12.500"]
    assert manifest["labels"].tolist() == ["/m/09x0r,/t/dd00088", "/m/03fwl,/m/04rlf,/m/09x0r"]


def test_csv_with_comment_lines_before_a_normal_header(tmp_path):
    (tmp_path / "m.csv").write_text("# made by hand, v2\npath,label\na.wav,dog\n")
    df = read_input_manifest(tmp_path / "m.csv", "{ytid}.wav")
    assert df[["path", "clip_id", "labels"]].values.tolist() == [["a.wav", "a", "dog"]]


def test_manifest_without_path_column_names_what_it_found(tmp_path):
    (tmp_path / "m.csv").write_text("file,label\na.wav,dog\n")
    with pytest.raises(ValueError, match="needs a `path` column.*'file', 'label'"):
        read_input_manifest(tmp_path / "m.csv", "{ytid}.wav")


def test_missing_input_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="prepare.input"):
        _run(tmp_path, tmp_path / "nothing_here")


def test_blank_manifest_path_is_rejected_not_fatal(tmp_path, make_tone):
    _write_wavs(tmp_path / "d", ["a.wav"], make_tone)
    (tmp_path / "d" / "m.csv").write_text("path,label\na.wav,dog\n,cat\n")
    result, corpus, rejected = _run(tmp_path, tmp_path / "d" / "m.csv")
    assert _reasons(rejected) == {"": "missing"} and len(corpus) == 1
