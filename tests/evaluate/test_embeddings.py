"""Clip embeddings: window means, the Zarr cache (second run never calls the model), the log-mel baseline."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import zarr
from eval_audio import RATE, write_tone

from pipeline.audio.logmel import LogMel, LogMelConfig
from pipeline.evaluate.benchmark import evaluate_embedder
from pipeline.evaluate.embedders import LogMelStats
from pipeline.evaluate.embeddings import Embedder, cache_path, task_embeddings
from pipeline.evaluate.probes import ProbeConfig
from pipeline.evaluate.tasks import TaskConfig, load_task

SECONDS = [0.3, 2.5, 1.0, 0.7]


class WindowFacts:
    """Embeds a window as (real seconds, rms of real samples, 1); counts calls; NaN for quiet windows if asked."""

    name, sample_rate, embed_dim = "facts", RATE, 3

    def __init__(self, fingerprint: str = "v1", nan_below: float = 0.0):
        self.fingerprint, self.nan_below, self.calls = fingerprint, nan_below, 0

    def embed_batch(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        real = torch.arange(waveforms.shape[1])[None, :] < lengths[:, None]  # (batch, samples)
        rms = ((waveforms ** 2 * real).sum(1) / lengths).sqrt()
        out = torch.stack([lengths / self.sample_rate, rms, torch.ones_like(rms)], dim=1)
        out[rms < self.nan_below] = float("nan")
        return out


@pytest.fixture
def timed_task(tmp_path: Path):
    """Four clips of different durations (one quiet), labels a/b."""
    rows = []
    for i, sec in enumerate(SECONDS):
        path = write_tone(tmp_path / f"{i}.wav", 440, seconds=sec, seed=i)
        rows.append(f"{path.name},{'ab'[i % 2]}")
    sf.write(tmp_path / "3.wav", np.zeros(int(SECONDS[3] * RATE), dtype=np.float32), RATE)
    (tmp_path / "m.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    return load_task(TaskConfig(name="timed", path=str(tmp_path / "m.csv"), n_folds=2))


def test_clip_embedding_is_mean_of_windows(timed_task, tmp_path: Path):
    model = WindowFacts()
    assert isinstance(model, Embedder)
    x = task_embeddings(timed_task, model, tmp_path / "cache", window_seconds=1.0, batch_size=2)
    # 2.5 s in 1 s windows: real lengths 1, 1, 0.5 -> mean 0.8333; shorter clips: one window of their length
    np.testing.assert_allclose(x[:, 0], [0.3, 2.5 / 3, 1.0, 0.7], rtol=1e-6)
    assert x[:, 1][:3] == pytest.approx([0.4 / np.sqrt(2)] * 3, rel=0.02)  # rms of the 0.4-amplitude tone
    assert model.calls == 3  # 1 + 3 + 1 + 1 = 6 windows in batches of 2


def test_second_call_reads_the_cache(timed_task, tmp_path: Path):
    first = task_embeddings(timed_task, WindowFacts(), tmp_path / "cache", window_seconds=1.0)
    again = WindowFacts()
    np.testing.assert_array_equal(task_embeddings(timed_task, again, tmp_path / "cache", window_seconds=1.0), first)
    assert again.calls == 0
    changed = WindowFacts(fingerprint="v2")  # new weights -> new store, the model runs again
    task_embeddings(timed_task, changed, tmp_path / "cache", window_seconds=1.0)
    other_window = WindowFacts()
    task_embeddings(timed_task, other_window, tmp_path / "cache", window_seconds=2.0)
    assert changed.calls > 0 and other_window.calls > 0
    assert len(list((tmp_path / "cache" / "timed").glob("*.zarr"))) == 3


def test_store_layout_and_invalid_clips(timed_task, tmp_path: Path):
    model = WindowFacts(nan_below=1e-3)  # the silent clip gives NaN in its only window
    x = task_embeddings(timed_task, model, tmp_path / "cache", window_seconds=1.0)
    assert np.isnan(x[3]).all() and np.isfinite(x[:3]).all()
    group = zarr.open_group(str(cache_path(tmp_path / "cache", timed_task, model, 1.0)), mode="r")
    assert group["embedding"].shape == (4, 3) and group["embedding"].dtype == np.float32
    assert group["valid"][:].tolist() == [True, True, True, False]
    attrs = dict(group.attrs)
    assert attrs["model_fingerprint"] == "v1" and attrs["task_fingerprint"] == timed_task.fingerprint
    assert attrs["sample_rate"] == RATE and attrs["window_seconds"] == 1.0
    assert not list((tmp_path / "cache" / "timed").glob("*.partial"))


def test_logmel_stats_ignore_padding():
    torch.set_num_threads(1)
    model = LogMelStats(sample_rate=RATE, n_mels=32)
    clip = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32))
    padded = torch.zeros(1, 4 * 8000)
    padded[0, :8000] = clip
    out = model.embed_batch(padded, torch.tensor([8000]))
    mel = LogMel(LogMelConfig(sample_rate=RATE, n_mels=32, fmax=8000.0))(clip[None]).numpy()[0]  # (mels, frames)
    expected = np.r_[mel.mean(axis=1), mel.std(axis=1)]
    assert out.shape == (1, 64)
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=1e-4, atol=1e-4)


class Counting:
    """Forwards to an embedder and counts calls."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.name, self.fingerprint = inner.name, inner.fingerprint
        self.sample_rate, self.embed_dim = inner.sample_rate, inner.embed_dim

    def embed_batch(self, waveforms, lengths):
        self.calls += 1
        return self.inner.embed_batch(waveforms, lengths)


def test_benchmark_on_tone_classes(class_folder: Path, tmp_path: Path):
    torch.set_num_threads(1)
    task = load_task(TaskConfig(name="tones", path=str(class_folder), n_folds=3))
    model = Counting(LogMelStats(sample_rate=RATE, n_mels=32))
    first, ranks = evaluate_embedder(model, [task], ProbeConfig(), tmp_path / "cache", window_seconds=1.0)
    assert first["tones"].summary()[0] == 1.0  # tones an octave or more apart
    assert 1.0 < ranks["tones"] <= 64  # log-mel mean + std over 32 bands
    calls = model.calls
    second, _ = evaluate_embedder(model, [task], ProbeConfig(), tmp_path / "cache", window_seconds=1.0)
    assert calls > 0 and model.calls == calls
    np.testing.assert_array_equal(second["tones"].scores, first["tones"].scores)


def test_teacher_and_student_adapters(timed_task, tmp_path: Path):
    from toy_teacher import ToyTeacher

    from pipeline.evaluate.embedders import StudentEmbedder, TeacherEmbedder

    teacher = ToyTeacher(sample_rate=RATE, dim=8)
    wrapped = TeacherEmbedder(teacher)
    x = task_embeddings(timed_task, wrapped, tmp_path / "cache", window_seconds=1.0)
    window = torch.from_numpy(np.pad(sf.read(timed_task.paths[0], dtype="float32")[0], (0, RATE - 4800)))[None]
    np.testing.assert_allclose(x[0], teacher.embed(window, torch.tensor([4800]))[0].numpy(), rtol=1e-5, atol=1e-6)

    logmel = LogMelConfig(sample_rate=RATE, n_mels=16, fmax=8000.0)
    student = torch.nn.Sequential(torch.nn.Flatten(1), torch.nn.Linear(16 * logmel.frames_for(RATE), 5))
    embedder = StudentEmbedder("tiny", student, logmel, embed_dim=5)
    assert task_embeddings(timed_task, embedder, tmp_path / "cache", window_seconds=1.0).shape == (4, 5)
    with torch.no_grad():
        student[1].weight.add_(1.0)
    assert StudentEmbedder("tiny", student, logmel, embed_dim=5).fingerprint != embedder.fingerprint
