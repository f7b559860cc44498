"""`prepare` killed mid-run resumes from its committed parts and publishes the corpus an uninterrupted run would."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from click.testing import CliRunner

import pipeline.prepare.build
from tiny_project import copy_project
from pipeline.prepare import PARTS_FOLDER, PrepareConfig, prepare_corpus
from pipeline.prepare.parts import PROGRESS_FILE
from stages.prepare import main

ROOT = Path(__file__).resolve().parents[2]
N_FILES = 30  # plus two rejected inputs
COMMIT_CLIPS = 2
SETTINGS = {"sample_rate": 16000, "workers": 1}


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """30 noisy 2 s FLAC files at 44.1 kHz (resampled by prepare), a text file and a too-short file."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "audio"
    folder.mkdir()
    for i in range(N_FILES):
        t = np.arange(2 * 44100) / 44100
        wave = 0.3 * np.sin(2 * np.pi * (200 + 20 * i) * t) + 0.05 * rng.standard_normal(len(t))
        sf.write(folder / f"clip{i:02d}.flac", wave.astype(np.float32), 44100)
    (folder / "clip07x.wav").write_text("not audio")
    sf.write(folder / "clip15x.wav", np.zeros(100, dtype=np.float32), 16000)
    return folder


def _params(path: Path, inputs: Path, **prepare) -> Path:
    path.write_text(yaml.safe_dump({"audio": {"sample_rate": 16000},
                                    "prepare": {"input": str(inputs), "workers": 1, **prepare}}))
    return path


def _progress(out: Path) -> list[dict]:
    """The parts progress.json lists now ([] while it is missing or being replaced)."""
    try:
        return json.loads((out / PARTS_FOLDER / PROGRESS_FILE).read_text())["parts"]
    except (OSError, ValueError):
        return []


def _same_corpus(a: Path, b: Path) -> None:
    """Corpus folders `a` and `b` hold the same arrays, attributes, manifest and rejection report."""
    with h5py.File(a / "corpus.h5", "r") as fa, h5py.File(b / "corpus.h5", "r") as fb:
        assert sorted(fa) == sorted(fb) and dict(fa.attrs) == dict(fb.attrs)
        for name in fa:
            np.testing.assert_array_equal(fa[name][:], fb[name][:], err_msg=name)
            assert fa[name].dtype == fb[name].dtype
    pd.testing.assert_frame_equal(pd.read_parquet(a / "manifest.parquet"), pd.read_parquet(b / "manifest.parquet"))
    assert (a / "rejected.csv").read_bytes() == (b / "rejected.csv").read_bytes()


def _whole(tmp_path: Path, inputs: Path, **settings) -> Path:
    """The corpus of an uninterrupted run."""
    out = tmp_path / "whole"
    prepare_corpus(PrepareConfig(input=str(inputs), output=str(out), **SETTINGS, **settings))
    return out


def test_sigkill_then_rerun_reuses_the_committed_parts(tmp_path, inputs):
    params, out = _params(tmp_path / "params.yaml", inputs, commit_clips=COMMIT_CLIPS), tmp_path / "out"
    stage = [sys.executable, "-m", "stages.prepare", "--params", str(params), "--output", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    with open(tmp_path / "killed.log", "w") as log:  # a file: a full pipe would stall the run
        proc = subprocess.Popen(stage, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while len(_progress(out)) < 2 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-3000:]
    committed = sum(p["stop"] - p["start"] for p in _progress(out))
    assert 0 < committed < N_FILES + 2 and not (out / "corpus.h5").exists()  # it really was cut short

    rerun = subprocess.run(stage, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert f"resuming an interrupted run: {committed} input(s) in" in rerun.stdout, rerun.stdout
    assert f"prepare: {committed} input(s) reused from an interrupted run, {N_FILES + 2 - committed} decoded now" \
        in rerun.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["reused"], metrics["decoded"]) == (committed, N_FILES + 2 - committed)
    assert not (out / PARTS_FOLDER).exists()  # removed once the corpus is published
    _same_corpus(out, _whole(tmp_path, inputs))
    assert len(pd.read_csv(out / "rejected.csv")) == 2


@pytest.mark.slow
def test_dvc_repro_after_a_sigkill_resumes_prepare(tmp_path, inputs):
    """The corpus folder is `persist: true`: DVC keeps the committed parts for the next `dvc repro`."""
    project = copy_project(tmp_path / "project", {"audio": {"sample_rate": 16000},
                                                  "prepare": {"input": "audio", "workers": 1, "commit_clips": 2}})
    (project / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")  # no git needed
    inputs.rename(project / "audio")
    out, repro = project / "cache" / "corpus", ["dvc", "repro", "--single-item", "prepare"]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(project), OMP_NUM_THREADS="1")
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(repro, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.time() + 120
        while len(_progress(out)) < 2 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)  # dvc and the `ssondo prepare` it runs, at once
        proc.wait()
    committed = sum(p["stop"] - p["start"] for p in _progress(out))
    assert 0 < committed < N_FILES + 2, (tmp_path / "killed.log").read_text()[-3000:]

    rerun = subprocess.run(repro, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert f"prepare: {committed} input(s) reused from an interrupted run" in rerun.stdout, rerun.stdout
    _same_corpus(out, _whole(tmp_path, project / "audio"))


def _interrupted(cfg: PrepareConfig, monkeypatch, after: int) -> None:
    """Run `prepare_corpus` and crash it after `after` inputs were decoded (their parts stay committed)."""
    decode_all = pipeline.prepare.build.decode_all

    def crashing(paths, cfg):
        for i, result in enumerate(decode_all(paths, cfg)):
            if i == after:
                raise KeyboardInterrupt
            yield result

    with monkeypatch.context() as patch:
        patch.setattr(pipeline.prepare.build, "decode_all", crashing)
        with pytest.raises(KeyboardInterrupt):
            prepare_corpus(cfg)
    assert not (Path(cfg.output) / "corpus.h5").exists()
    assert [p.suffix for p in (Path(cfg.output) / PARTS_FOLDER).iterdir()].count(".partial") == 0


def test_a_corrupted_part_is_decoded_again(tmp_path, inputs, monkeypatch, capsys):
    cfg = PrepareConfig(input=str(inputs), output=str(tmp_path / "out"), commit_clips=4, **SETTINGS)
    _interrupted(cfg, monkeypatch, after=13)  # parts of rows 0-3, 4-7, 8-11 committed; 12 lost
    parts = _progress(Path(cfg.output))
    assert [(p["start"], p["stop"]) for p in parts] == [(0, 4), (4, 8), (8, 12)]
    middle = Path(cfg.output) / PARTS_FOLDER / parts[1]["file"]
    data = bytearray(middle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    middle.write_bytes(bytes(data))

    result = prepare_corpus(cfg)
    said = capsys.readouterr().out
    assert "8 input(s) in 2 committed part(s) reused; 1 part(s) failed their checksum" in said, said
    assert (result.reused, result.decoded) == (8, N_FILES + 2 - 8)
    _same_corpus(Path(cfg.output), _whole(tmp_path, inputs))


@pytest.mark.parametrize("change", ["file", "settings"])
def test_changed_inputs_or_settings_start_over(tmp_path, inputs, monkeypatch, capsys, change):
    cfg = PrepareConfig(input=str(inputs), output=str(tmp_path / "out"), commit_clips=4, **SETTINGS)
    _interrupted(cfg, monkeypatch, after=9)
    assert len(_progress(Path(cfg.output))) == 2
    capsys.readouterr()
    settings = {}
    if change == "file":  # same name and size, other samples: the modification time tells
        sf.write(inputs / "clip01.flac", np.zeros(2 * 44100, dtype=np.float32), 44100)
    else:
        settings = {"max_seconds": 1.5}
    result = prepare_corpus(PrepareConfig(input=cfg.input, output=cfg.output, commit_clips=4, **SETTINGS,
                                          **settings))
    said = capsys.readouterr().out
    assert "differ from those of the interrupted run" in said and "(2 committed part(s) dropped); starting over" \
        in said, said
    assert (result.reused, result.decoded) == (0, N_FILES + 2)
    _same_corpus(Path(cfg.output), _whole(tmp_path, inputs, **settings))


def test_parts_follow_commit_seconds(tmp_path, inputs, monkeypatch):
    """With commit_seconds 0 every input is its own part, whatever commit_clips allows."""
    cfg = PrepareConfig(input=str(inputs), output=str(tmp_path / "out"), commit_seconds=0, **SETTINGS)
    _interrupted(cfg, monkeypatch, after=5)
    assert [(p["start"], p["stop"]) for p in _progress(Path(cfg.output))] == [(i, i + 1) for i in range(5)]


def test_an_unreadable_progress_file_starts_over(tmp_path, inputs, monkeypatch, capsys):
    cfg = PrepareConfig(input=str(inputs), output=str(tmp_path / "out"), commit_clips=4, **SETTINGS)
    _interrupted(cfg, monkeypatch, after=9)
    (Path(cfg.output) / PARTS_FOLDER / PROGRESS_FILE).write_text('{"run_key": "')  # torn by a power cut
    result = prepare_corpus(cfg)
    assert "is unreadable (JSONDecodeError" in capsys.readouterr().out
    assert result.reused == 0
    _same_corpus(Path(cfg.output), _whole(tmp_path, inputs))


def test_stage_reports_nothing_reused_on_a_fresh_run(tmp_path, inputs):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["--params", str(_params(tmp_path / "p.yaml", inputs)), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert f"prepare: 0 input(s) reused from an interrupted run, {N_FILES + 2} decoded now" in result.output
    assert "resuming" not in result.output and "starting over" not in result.output
