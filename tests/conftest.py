"""Shared fixtures: tiny real audio corpora and a small deterministic teacher."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from pipeline.inference.torch_ops import retain_replaced_ops

sys.path.insert(0, str(Path(__file__).parent / "helpers"))

torch.set_num_threads(1)
retain_replaced_ops()  # before any test defines or imports an op library: no freed op id is ever reused


def tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    """A sine tone as float32."""
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def audio_folder(tmp_path: Path) -> Path:
    """A folder of 12 short real audio files (tones and noise) at mixed rates and formats."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    for i in range(12):
        rate = (16000, 22050, 32000, 44100)[i % 4]
        secs = 0.6 + 0.25 * i
        wave = tone(200 + 90 * i, secs, rate) + 0.05 * rng.standard_normal(int(round(secs * rate))).astype(np.float32)
        ext = ".flac" if i % 3 else ".wav"
        target = folder / ("sub" if i % 2 else "") / f"clip{i:02d}{ext}"
        sf.write(target, wave, rate)
    return folder


@pytest.fixture
def tiny_corpus(audio_folder: Path, tmp_path: Path):
    """The 12-file folder prepared into an HDF5 corpus at 16 kHz (single process)."""
    from pipeline.corpus import Corpus
    from pipeline.prepare import PrepareConfig, prepare_corpus

    cfg = PrepareConfig(input=str(audio_folder), output=str(tmp_path / "corpus"), sample_rate=16000, workers=1)
    prepare_corpus(cfg)
    return Corpus(tmp_path / "corpus" / "corpus.h5")


@pytest.fixture
def make_tone():
    """The `tone(freq, seconds, rate, amp)` helper as a fixture (importlib mode cannot import conftest)."""
    return tone


def pytest_terminal_summary(terminalreporter, config):
    """The random test order's seed at the end of every run, `-q` included (pytest-randomly prints it in the header,
    which `-q` hides), so a failing order can be replayed."""
    if config.pluginmanager.hasplugin("randomly"):
        seed = config.getoption("randomly_seed")
        terminalreporter.write_line(f"test order: pytest-randomly seed {seed} "
                                    f"(replay: -p randomly --randomly-seed={seed})")
