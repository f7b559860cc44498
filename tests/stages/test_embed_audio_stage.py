"""`ssondo embed-audio` through click's CliRunner: a folder with one corrupt file, three output formats."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import zarr
from click.testing import CliRunner

from pipeline.audio.decode import decode
from pipeline.audio.logmel import LogMelConfig
from pipeline.inference.model import load_student
from stages.embed_audio import main
from student_setup import fresh_student

FRONTEND = LogMelConfig(sample_rate=16000, n_mels=32, fmax=8000.0)
WINDOW_SECONDS = 1.0


@pytest.fixture
def student(tmp_path):
    """A small student (16 kHz, 1 s window) saved as a checkpoint folder."""
    fresh_student(tmp_path / "student" / "student.pt", FRONTEND, WINDOW_SECONDS, {"width": 0.1}, out_dim=16)
    return tmp_path / "student"


@pytest.fixture
def folder(audio_folder):
    """The 12-clip fixture folder plus a corrupt .wav and a non-audio file (ignored)."""
    (audio_folder / "sub" / "broken.wav").write_bytes(b"RIFF\x00\x00garbage, not audio")
    (audio_folder / "notes.txt").write_text("not audio")
    return audio_folder


def run(*args: str):
    return CliRunner().invoke(main, [*map(str, args), "--batch-size", "4", "--threads", "1"])


def test_folder_with_a_corrupt_file(student, folder, tmp_path):
    out = tmp_path / "emb" / "embeddings.parquet"
    result = run(folder, "--student", student, "--out", out)
    assert result.exit_code == 0, result.output
    assert "12/13 files -> 12 rows" in result.output and "1 failed" in result.output
    errors = pd.read_csv(tmp_path / "emb" / "embeddings.errors.csv")
    assert list(errors["path"]) == [str(folder / "sub" / "broken.wav")] and errors["reason"][0] == "unreadable"
    table = pq.read_table(out)
    rows = table.to_pandas()
    assert len(rows) == 12 and not rows["path"].str.endswith(("broken.wav", ".txt")).any()
    vectors = np.stack(rows["embedding"].to_numpy())
    assert vectors.shape == (12, 96) and np.isfinite(vectors).all()
    model = load_student(student)
    first = rows["path"][0]
    np.testing.assert_allclose(vectors[0], model.embed_clip(decode(first, 16000), 16000), rtol=1e-4, atol=1e-6)
    assert b"ssondo" in table.schema.metadata


def test_segments_to_npy_and_zarr(student, folder, tmp_path):
    result = run(folder, "--student", student / "student.pt", "--out", tmp_path / "seg.npy", "--segments")
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "seg.rows.csv")
    vectors = np.load(tmp_path / "seg.npy")
    assert len(rows) == len(vectors) == rows.groupby("path")["segments"].first().sum()
    longest = rows[rows["seconds"] == rows["seconds"].max()]  # clip11: 3.35 s -> 4 segments of 1 s
    assert list(longest["segment"]) == [0, 1, 2, 3]
    assert longest["end_s"].iloc[-1] == pytest.approx(longest["seconds"].iloc[0], abs=1e-3)
    model = load_student(student)
    path = longest["path"].iloc[0]
    np.testing.assert_allclose(vectors[longest.index], model.embed(decode(path, 16000), 16000), rtol=1e-4, atol=1e-6)
    result = run(folder / "sub", folder / "clip00.wav", "--student", student, "--out", tmp_path / "e.zarr")
    assert result.exit_code == 0, result.output
    assert zarr.open_group(str(tmp_path / "e.zarr"), mode="r")["embeddings"].shape == (7, 96)


def test_unknown_format_and_nothing_decodable(student, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.flac").write_bytes(b"nope")
    result = run(bad, "--student", student, "--out", tmp_path / "e.csv")
    assert result.exit_code != 0 and "valid" in result.output
    result = run(bad, "--student", student, "--out", tmp_path / "e.parquet")
    assert result.exit_code != 0 and "0/1 files" in result.output
    assert len(pd.read_csv(tmp_path / "e.errors.csv")) == 1
