"""The generated-corpus run drives the real stage commands end to end (tiny sizes) and resumes from its state."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import soundfile as sf

from benchmarks import corpus_run
from pipeline.corpus import Corpus


@pytest.mark.slow
def test_tiny_run_through_every_stage(tmp_path, capsys):
    work = tmp_path / "run"
    argv = ["--clips", "12", "--work", str(work), "--k", "3", "--epochs", "1", "--epoch-size", "16", "--batch-size", "8",
            "--threads", "1", "--workers", "1"]
    corpus_run.main(argv)
    manifest = pd.read_csv(work / "source" / "manifest.csv")
    assert len(manifest) == 12 and manifest["labels"].str.match(r"tones\d;bursts\d;chirps\d").all()
    info = sf.info(str(work / "source" / manifest["path"][0]))
    assert info.format == "MP3" and info.samplerate == corpus_run.SOURCE_RATE
    corpus = Corpus(work / "corpus" / "corpus.h5")
    assert len(corpus) == 12 and corpus.sample_rate == 32000 and corpus.codec == "mp3"
    assert abs(len(corpus.clip(0)) - 320000) <= 1  # 10 s at 32 kHz after resampling from 44.1 kHz
    steps = json.loads((work / "steps.json").read_text())
    assert set(steps) == {"generate", "prepare", "embed", "cluster", "train"}
    report = (work / "report.md").read_text()
    assert "| train |" in report and '"val_cosine"' in report and "Rejected by prepare: 0." in report
    capsys.readouterr()
    corpus_run.main(argv)  # everything is there: nothing re-runs
    assert json.loads((work / "steps.json").read_text()) == steps
    assert "generate:" not in capsys.readouterr().out.split("| step |")[0]
