"""Smoke test of `ssondo demo-corpus` through click."""
import json

import pandas as pd
import yaml
from click.testing import CliRunner

from stages.demo_corpus import main


def test_demo_corpus_stage_tiny(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"demo": {"n_instrument": 2, "n_speech": 1, "n_noisy": 1,
                                               "n_percussion": 1, "n_events": 2, "n_sentences": 1, "n_scenes": 1,
                                               "n_task_clips": 16, "n_detection_clips": 1,
                                               "detection_seconds": 2.0}}))
    folders = ["--output", str(tmp_path / "demo"), "--tasks-output", str(tmp_path / "t")]
    result = CliRunner().invoke(main, ["--params", str(params), "--workers", "1", *folders])
    assert result.exit_code == 0, result.output
    assert "9 clips" in result.output
    manifest = pd.read_csv(tmp_path / "demo" / "manifest.csv")
    assert len(manifest) == 9 and (tmp_path / "demo" / manifest["path"].iat[0]).is_file()
    assert json.loads((tmp_path / "demo" / "metrics.json").read_text())["task_instrument_family"] == 16
    index = json.loads((tmp_path / "t" / "tasks.json").read_text())
    assert index["instrument_family"]["classes"] == 8
    assert index["sound_event_detection"]["clips"] == 10  # the fewest scenes a grouped 5-fold split can use

    params.write_text(yaml.safe_dump({"demo": {"n_speeches": 3}}))
    bad = CliRunner().invoke(main, ["--params", str(params), *folders])
    assert bad.exit_code != 0 and "n_speeches" in bad.output and "allowed" in bad.output
