"""Frame-level embeddings: which steps each window keeps, the grid they tile, independence from batching."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from pipeline.audio.logmel import LogMelConfig
from pipeline.inference.checkpoint import CheckpointConfig
from pipeline.inference.frames import frame_embeddings, kept_steps, on_grid
from pipeline.inference.model import StudentModel
from pipeline.students.registry import build_student


def block_means(steps: int):
    """A stand-in network: each of `steps` equal blocks of a window -> (its mean, its first sample index)."""
    def fn(windows: torch.Tensor) -> torch.Tensor:
        b, w = windows.shape
        blocks = windows.reshape(b, steps, w // steps)
        return torch.stack([blocks.mean(dim=2), blocks[:, :, 0]], dim=2)
    return fn


def test_a_window_keeps_the_steps_centred_in_its_middle_half():
    assert kept_steps(4, 64000) == ([1, 2], [24000.0, 40000.0])
    assert kept_steps(2, 32000) == ([0], [8000.0])
    assert kept_steps(1, 32000) == ([0], [16000.0])


@pytest.mark.parametrize("n", [1, 5000, 64000, 64001, 200_000])
def test_frames_tile_the_audio_on_a_regular_grid_and_read_the_right_samples(n):
    ramp = torch.arange(n, dtype=torch.float64)[None] + 1.0  # sample i holds i + 1 (0 is padding)
    emb, centres = frame_embeddings(block_means(4), ramp, window=64000)
    assert emb.shape[:2] == (1, len(centres)) and centres[0] == 8000 and (centres < max(n, 8001)).all()
    assert len(centres) == 1 or np.allclose(np.diff(centres.numpy()), 16000)  # a frame every quarter window
    assert centres[-1] + 16000 >= n  # nothing at the end is left without a frame
    # each frame reads the block of samples around its centre: block start = centre - 8000, in audio samples
    first = emb[0, :, 1].numpy() - 1.0  # sample index of each block's first sample (-1 where padding)
    starts = centres.numpy() - 8000
    real = starts >= 0
    np.testing.assert_allclose(first[real], starts[real])


def test_batching_does_not_change_a_frame():
    audio = torch.randn(3, 150_000, dtype=torch.float64)
    whole, centres = frame_embeddings(block_means(4), audio, window=64000, batch_size=1000)
    for batch in (1, 2, 7):
        emb, same = frame_embeddings(block_means(4), audio, window=64000, batch_size=batch)
        assert torch.equal(emb, whole) and torch.equal(same, centres)


def test_on_grid_interpolates_between_neighbours_and_holds_the_ends():
    emb = torch.tensor([[[0.0], [10.0], [20.0]]])
    centres = torch.tensor([100.0, 200.0, 300.0], dtype=torch.float64)
    grid = torch.tensor([0.0, 100.0, 150.0, 275.0, 400.0], dtype=torch.float64)
    assert on_grid(emb, centres, grid)[0, :, 0].tolist() == [0.0, 0.0, 5.0, 17.5, 20.0]
    assert on_grid(emb[:, :1], centres[:1], grid).shape == (1, 5, 1)


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    frontend = LogMelConfig(sample_rate=16000, n_mels=64, fmax=8000.0)
    config = CheckpointConfig(student="mobilenetv3", frontend=frontend, window_samples=32000, embed_dim=0,
                              out_dim=8, student_options={"width": 0.2, "summary_bands": 64})
    config = dataclasses.replace(config, embed_dim=build_student("mobilenetv3", config.student_options).embed_dim)
    model = StudentModel(config).eval()
    with torch.no_grad():  # batch-norm statistics of sound, not of the initialisation
        model.train()
        model(0.1 * torch.randn(4, 32000))
    return model.eval()


def test_student_frames_are_its_windows_middle_steps(student):
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(40_000)).astype(np.float32)
    emb, times = student.embed_frames(wave, 16000)
    assert isinstance(emb, np.ndarray) and emb.shape == (len(times), student.embedding_dim)
    # by hand: the window starting a quarter window before the audio, its steps kept by their centres
    padded = np.concatenate([np.zeros(8000, np.float32), wave, np.zeros(64000, np.float32)])
    with torch.no_grad():
        steps = student.frames(torch.from_numpy(padded[:32000])[None])[0].numpy()
    kept, offsets = kept_steps(steps.shape[0], 32000)
    np.testing.assert_allclose(emb[: len(kept)], steps[kept], atol=1e-5)
    np.testing.assert_allclose(times[: len(kept)], (np.array(offsets) - 8000) / 16000, atol=1e-6)
    # on a 10 ms grid from 0, the frames are interpolated (torch in -> torch out)
    fine, grid = student.embed_frames(torch.from_numpy(wave), 16000, hop_ms=10.0)
    assert isinstance(fine, torch.Tensor) and fine.shape == (250, student.embedding_dim)
    np.testing.assert_allclose(grid.numpy(), np.arange(250) * 0.01, atol=1e-6)


def test_clip_embedding_is_the_mean_of_a_window_frames(student):
    window = 0.1 * torch.randn(2, 32000)
    with torch.no_grad():
        frames, clip = student.frames(window), student(window)
    dim = clip.shape[1] - 128  # the learnt part: the clip pools the same map over the same steps
    torch.testing.assert_close(frames[:, :, :dim].mean(dim=1), clip[:, :dim], rtol=0, atol=1e-5)
