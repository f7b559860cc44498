"""Segment embeddings: one pass pooled per segment, centred windows cut at the clip's ends, and the cache key."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from eval_audio import RATE

from pipeline.evaluate.benchmark import evaluate_embedder
from pipeline.evaluate.detection import load_detection_task
from pipeline.evaluate.embeddings import cache_path
from pipeline.evaluate.probes import ProbeConfig
from pipeline.evaluate.segment_embeddings import pool_frames, segment_embeddings, segment_mode
from pipeline.evaluate.tasks import TaskConfig


class StepLoudness:
    """Frame embeddings: per half window (2 steps), the share of samples above 0.01; never embeds a window whole."""

    name, fingerprint, sample_rate, embed_dim = "steps", "s1", RATE, 1
    frame_window = RATE // 2

    def __init__(self):
        self.calls = 0

    def embed_frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loud = (waveforms.abs() > 0.01).float()  # (batch, window)
        return loud.reshape(len(waveforms), 2, -1).mean(dim=-1, keepdim=True)  # (batch, 2, 1)

    def embed_batch(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        raise AssertionError("a model with frame embeddings is embedded in one pass")


class WindowPlace:
    """Embeds a window as (real seconds, mean of its real samples): on a ramp, the mean says where the window is."""

    name, fingerprint, sample_rate, embed_dim = "place", "p1", RATE, 2

    def __init__(self):
        self.calls = 0

    def embed_batch(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        real = torch.arange(waveforms.shape[1])[None, :] < lengths[:, None]
        return torch.stack([lengths / RATE, (waveforms * real).sum(1) / lengths], dim=1)


def write_task(root: Path, audio: dict[str, np.ndarray]) -> TaskConfig:
    """A detection task of the given clips, each with one 'on' event over its first second and one 'off' after."""
    events = []
    for name, wave in audio.items():
        sf.write(root / name, wave.astype(np.float32), RATE, subtype="FLOAT")
        events += [f"{name},0.0,1.0,on", f"{name},1.0,{len(wave) / RATE},off"]
    (root / "m.csv").write_text("path,label\n" + "".join(f"{n},\"off,on\"\n" for n in audio))
    (root / "e.csv").write_text("path,onset,offset,label\n" + "\n".join(events) + "\n")
    return TaskConfig(name="det", path=str(root / "m.csv"), metric="micro_f1", n_folds=2, events=str(root / "e.csv"))


def test_pooled_frames_are_the_mean_inside_a_segment_or_interpolated_at_its_centre():
    times = torch.tensor([0.25, 0.75, 1.25, 1.75], dtype=torch.float64)
    emb = times[:, None].float().repeat(1, 2)  # each frame embeds its own time
    pooled = pool_frames(emb, times, torch.tensor([[0.0, 1.0], [1.0, 2.0], [0.5, 0.6]], dtype=torch.float64))
    np.testing.assert_allclose(pooled[:, 0], [0.5, 1.5, 0.55], rtol=1e-6)  # the last holds no frame centre


def test_one_pass_segment_embeddings_locate_the_sound(tmp_path: Path):
    loud_second = np.r_[0.5 * np.ones(RATE), np.zeros(2 * RATE)]
    task = load_detection_task(write_task(tmp_path, {"a.wav": loud_second}), 1.0)
    model = StepLoudness()
    assert segment_mode(model) == "frames"
    x = segment_embeddings(task, model, tmp_path / "cache", window_seconds=1.0)
    # frames every 0.25 s, each over 0.25 s: the first half in the zero padding before the audio, the one at 1.0 s
    # half in the sound; a segment averages the four frames centred in it
    np.testing.assert_allclose(x[:, 0], [(0.5 + 1 + 1 + 1) / 4, 0.5 / 4, 0.0], atol=1e-6)
    calls = model.calls
    np.testing.assert_array_equal(segment_embeddings(task, model, tmp_path / "cache", window_seconds=1.0), x)
    assert model.calls == calls  # read back from the cache


def test_sliding_windows_are_centred_on_segments_and_cut_at_the_clip_ends(tmp_path: Path):
    ramp = np.arange(3 * RATE) / RATE / 10  # value = time / 10
    task = load_detection_task(write_task(tmp_path, {"a.wav": ramp}), 1.0)
    model = WindowPlace()
    assert segment_mode(model) == "windows"
    x = segment_embeddings(task, model, tmp_path / "cache", window_seconds=2.0, batch_size=2)
    # windows centred on 0.5, 1.5, 2.5 s, 2 s long: [0, 1.5), [0.5, 2.5), [1.5, 3) once cut at the ends
    np.testing.assert_allclose(x[:, 0], [1.5, 2.0, 1.5], atol=1e-4)
    np.testing.assert_allclose(x[:, 1], [0.075, 0.15, 0.225], atol=1e-3)
    assert model.calls == 2


def test_the_cache_key_follows_resolution_window_and_mode(tmp_path: Path):
    config = write_task(tmp_path, {"a.wav": np.ones(2 * RATE) * 0.1, "b.wav": np.ones(3 * RATE) * 0.2})
    one, half = load_detection_task(config, 1.0), load_detection_task(config, 0.5)
    model = WindowPlace()
    paths = {cache_path(tmp_path, one, model, ["windows", 1.0]), cache_path(tmp_path, half, model, ["windows", 1.0]),
             cache_path(tmp_path, one, model, ["windows", 2.0]), cache_path(tmp_path, one, model, ["frames", 16000])}
    assert len(paths) == 4
    assert segment_embeddings(half, model, tmp_path, 1.0).shape == (4 + 6, 2)
    assert segment_embeddings(one, model, tmp_path, 1.0).shape == (2 + 3, 2)
    assert len(list((tmp_path / "det").glob("*.zarr"))) == 2


def test_evaluate_embedder_probes_segments(tmp_path: Path):
    rng = np.random.default_rng(0)
    clips = {f"{i}.wav": np.r_[0.5 * rng.standard_normal(RATE), 0.005 * rng.standard_normal(RATE)] for i in range(6)}
    task = load_detection_task(write_task(tmp_path, clips), 1.0)
    results, ranks = evaluate_embedder(StepLoudness(), [task], ProbeConfig(seeds=(0,)), tmp_path / "cache",
                                       window_seconds=2.0, segment_window_seconds=1.0)
    assert results["det"].metric == "micro_f1" and results["det"].scores.min() > 0.95
    with pytest.raises(ValueError, match="segment_window_seconds"):
        evaluate_embedder(WindowPlace(), [task], ProbeConfig(), tmp_path / "other", window_seconds=2.0)
