"""`ssondo prepare` through click's CliRunner on a tiny folder with a temporary params.yaml."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from pipeline.corpus import Corpus
from stages.prepare import main


def _params(tmp_path: Path, prepare: dict, audio: dict | None = None) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"audio": audio or {"sample_rate": 16000}, "prepare": prepare}))
    return str(path)


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_prepare_stage_outputs_and_metrics(tmp_path, audio_folder):
    (audio_folder / "broken.wav").write_text("not audio")
    out = tmp_path / "out"
    params = _params(tmp_path, {"input": str(audio_folder), "workers": 1})
    result = _invoke("--params", params, "--output", str(out))
    assert result.exit_code == 0, result.output
    corpus = Corpus(out / "corpus.h5")
    assert len(corpus) == 12 and corpus.sample_rate == 16000
    assert len(corpus.manifest()) == 12
    rejected = pd.read_csv(out / "rejected.csv")
    assert rejected[["clip_id", "reason"]].values.tolist() == [["broken", "unreadable"]]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["clips"] == 12 and metrics["rejected"] == 1
    assert metrics["fingerprint"] == corpus.fingerprint
    assert metrics["hours"] == pytest.approx(corpus.lengths.sum() / 16000 / 3600)
    assert "prepare: 12 clips" in result.output and corpus.fingerprint in result.output
    assert "1 input(s) rejected (unreadable=1)" in result.output


def test_cli_overrides_input_and_output(tmp_path, audio_folder):
    params = _params(tmp_path, {"input": "nowhere", "workers": 7})
    out = tmp_path / "elsewhere"
    result = _invoke("--params", params, "--input", str(audio_folder), "--output", str(out), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["rejected"] == 0


@pytest.mark.parametrize("prepare,audio,message", [
    ({"min_seconds": "short"}, None, "prepare.min_seconds: expected a number, got 'short'"),
    ({"colour": "red"}, None, "prepare: unknown key(s) ['colour']"),
    ({"sample_format": "int8"}, None, "prepare.sample_format: 'int8' is not one of ['int16', 'float16']"),
    ({"fail_on_reject": "no"}, None, "prepare.fail_on_reject: expected true/false"),
    ({"sample_rate": 16000}, None, "prepare.sample_rate: set the corpus rate in audio.sample_rate"),
    ({}, {"sample_rate": "32k"}, "audio.sample_rate: expected an integer, got '32k'"),
    ({}, {"sample_rate": 500}, "audio.sample_rate: must be >= 1000 Hz"),
    ({"commit_seconds": -1}, None, "prepare.commit_seconds: must be a finite number >= 0, got -1"),
    ({"commit_clips": 0}, None, "prepare.commit_clips: must be >= 1, got 0"),
])
def test_config_errors_are_clean_click_errors(tmp_path, prepare, audio, message):
    prepare = {"input": str(tmp_path), **prepare}
    result = _invoke("--params", _params(tmp_path, prepare, audio), "--output", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a ClickException, not a traceback
    assert f"Error: {message}" in result.output, result.output
    assert not (tmp_path / "out" / "corpus.h5").exists()


def test_run_failures_are_clean_click_errors(tmp_path, audio_folder):
    (audio_folder / "broken.wav").write_text("not audio")
    params = _params(tmp_path, {"input": str(audio_folder), "workers": 1, "fail_on_reject": True})
    out = ["--output", str(tmp_path / "o")]
    result = _invoke("--params", params, *out)
    assert result.exit_code == 1 and "fail_on_reject is true" in result.output
    result = _invoke("--params", _params(tmp_path, {"input": str(tmp_path / "none")}), *out)
    assert result.exit_code == 1 and "Error: prepare.input:" in result.output
    result = _invoke("--params", str(tmp_path / "missing.yaml"), *out)
    assert result.exit_code == 1 and "params file" in result.output and "not found" in result.output
    (tmp_path / "list.yaml").write_text("prepare: [1, 2]\n")
    result = _invoke("--params", str(tmp_path / "list.yaml"), *out)
    assert result.exit_code == 1 and "section `prepare` must be a mapping" in result.output
