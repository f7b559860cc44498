"""The HEAR 2021 API over a student checkpoint: shapes, timestamps, windows, batch independence, hear-validator."""
from __future__ import annotations

import dataclasses
import sys
import types

import numpy as np
import pytest
import torch

from pipeline import hear
from pipeline.audio.logmel import LogMel, LogMelConfig
from pipeline.inference.checkpoint import save_student
from pipeline.inference.model import load_student
from pipeline.students.head import HeadOptions, ProjectionHead
from pipeline.students.registry import build_student

RATE = 32000
WINDOW = 32000  # training window of the test student: 1 s
TOL = 1e-6  # embeddings are ~1e-2; float32 error of the same window in another batch is ~1e-9


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A fresh MobileNetV3 width 0.1 saved as `student.pt`, with batch-norm statistics of noise (not init)."""
    torch.manual_seed(0)
    student = build_student("mobilenetv3", {"width": 0.1})
    frontend = LogMelConfig(sample_rate=RATE)
    student.train()
    with torch.no_grad():
        student(LogMel(frontend)(0.1 * torch.randn(4, WINDOW)))
    head = ProjectionHead(student.embed_dim, 16, HeadOptions(hidden=()))
    config = {"student": "mobilenetv3", "student_options": {"width": 0.1}, "frontend": dataclasses.asdict(frontend),
              "window_samples": WINDOW, "embed_dim": student.embed_dim, "out_dim": 16, "head_hidden": []}
    return save_student(tmp_path_factory.mktemp("hear") / "student.pt", student.eval(), head, config)


@pytest.fixture(scope="module")
def model(checkpoint):
    return hear.load_model(str(checkpoint))


def noise(n_sounds: int, seconds: float, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(-0.5, 0.5, (n_sounds, int(seconds * RATE))).astype(np.float32))


def test_model_attributes(model, checkpoint):
    student = load_student(checkpoint)
    assert isinstance(model, torch.nn.Module)
    assert type(model.sample_rate) is int and model.sample_rate == RATE == student.sample_rate
    assert type(model.scene_embedding_size) is int and model.scene_embedding_size == student.embedding_dim
    assert model.timestamp_embedding_size == student.embedding_dim
    assert model.hop == 1600 and model.window == RATE  # 50 ms hop, 1 s windows


def test_scene_embeddings_equal_embed_clip(model, checkpoint):
    tone = 0.5 * torch.sin(2 * np.pi * 440 * torch.arange(int(2.5 * RATE)) / RATE)
    audio = torch.cat([noise(2, 2.5), tone[None]])  # 3 segments of the 1 s training window, the last half real
    emb = hear.get_scene_embeddings(audio, model)
    assert emb.dtype == torch.float32 and emb.shape == (3, model.scene_embedding_size)
    student = load_student(checkpoint)
    for i in range(3):  # numpy segmenting + weighted mean: an independent path
        np.testing.assert_allclose(emb[i].numpy(), student.embed_clip(audio[i].numpy(), RATE), rtol=0, atol=TOL)
    # an untrained student barely reacts to its input, so tolerances are tight and this gap is checked
    assert (emb[0] - emb[2]).abs().max() > 10 * TOL


@pytest.mark.parametrize("seconds", [0.2, 25.0])
def test_timestamps_cover_the_clip_at_regular_steps(model, seconds):
    audio = noise(2, seconds)
    emb, stamps = hear.get_timestamp_embeddings(audio, model)
    n = 1 + audio.shape[1] // 1600
    assert emb.dtype == torch.float32 and stamps.dtype == torch.float32
    assert emb.shape == (2, n, model.timestamp_embedding_size) and stamps.shape == (2, n)
    np.testing.assert_allclose(stamps[1].numpy(), 50.0 * np.arange(n), atol=1e-3)
    assert torch.all(torch.diff(stamps) > 0) and stamps[0, 0] == 0.0
    assert 1000 * seconds - 50 < stamps[0, -1] <= 1000 * seconds
    assert torch.isfinite(emb).all()


def test_timestamp_embedding_is_the_centred_window(checkpoint):
    model = hear.load_model(str(checkpoint), timestamps="windows")
    student = load_student(checkpoint)
    audio = torch.zeros(1, 2 * RATE)
    audio[0, : RATE // 2] = noise(1, 0.5, seed=3)[0]  # sound in the first 0.5 s, silence after
    emb, stamps = hear.get_timestamp_embeddings(audio, model)
    padded = np.concatenate([np.zeros(RATE // 2), audio[0].numpy(), np.zeros(RATE)]).astype(np.float32)
    with torch.no_grad():
        for k in (0, 3, 7, 20, 40):  # 0, 150, 350, 1000, 2000 ms
            centre = k * 1600
            window = torch.from_numpy(padded[centre: centre + RATE])[None]  # centre +- 0.5 s, zeros outside
            np.testing.assert_allclose(emb[0, k].numpy(), student.encoder(window)[0].numpy(), rtol=0, atol=TOL)
        silence = student.encoder(torch.zeros(1, RATE))[0]
    assert (emb[0, 3] - emb[0, 4]).abs().max() > 10 * TOL  # one hop apart: clearly different windows
    np.testing.assert_allclose(emb[0, 30].numpy(), silence.numpy(), rtol=0, atol=TOL)  # 1.5 s: all silence
    assert (emb[0, 5] - silence).abs().max() > 10 * TOL  # 250 ms: the window holds the sound


@pytest.mark.parametrize("timestamps", ["frames", "windows"])
def test_batch_consistency(checkpoint, timestamps):
    model = hear.load_model(str(checkpoint), timestamps=timestamps)
    tone = 0.5 * torch.sin(2 * np.pi * 440 * torch.arange(int(1.3 * RATE)) / RATE)
    audio = torch.stack([noise(1, 1.3, seed=1)[0], tone, torch.zeros_like(tone)])  # a mix-up of sounds would show
    scene, (stamped, stamps) = hear.get_scene_embeddings(audio, model), hear.get_timestamp_embeddings(audio, model)
    for i in range(3):
        alone = audio[i: i + 1]
        torch.testing.assert_close(hear.get_scene_embeddings(alone, model)[0], scene[i], rtol=0, atol=TOL)
        one, one_stamps = hear.get_timestamp_embeddings(alone, model)
        torch.testing.assert_close(one[0], stamped[i], rtol=0, atol=TOL)
        torch.testing.assert_close(one_stamps[0], stamps[i])


def test_frame_batch_changes_speed_not_embeddings(checkpoint):
    audio = noise(2, 5.2, seed=3)
    one = hear.get_timestamp_embeddings(audio, hear.load_model(str(checkpoint), frame_batch=1))[0]
    many = hear.get_timestamp_embeddings(audio, hear.load_model(str(checkpoint), frame_batch=5))[0]
    torch.testing.assert_close(one, many, rtol=0, atol=TOL)
    with pytest.raises(ValueError, match="frame_batch"):
        hear.load_model(str(checkpoint), frame_batch=0)


@pytest.mark.parametrize("timestamps", ["frames", "windows"])
def test_options_round_the_hop_to_samples_without_drift(checkpoint, timestamps):
    model = hear.load_model(str(checkpoint), hop_ms=100 / 3, window_seconds=0.25, batch_size=7, timestamps=timestamps)
    assert model.hop == 1067 and model.window == 8000
    emb, stamps = hear.get_timestamp_embeddings(noise(1, 30.0), model)
    # timestamps follow the rounded hop (1067 samples = 33.34375 ms), not the requested 33.33 ms
    np.testing.assert_allclose(stamps[0].numpy(), np.arange(emb.shape[1]) * 1067 / 32, rtol=1e-6)
    assert emb.shape[1] == 1 + 30 * RATE // 1067


def test_bad_paths_and_shapes_fail_clearly(model, checkpoint, tmp_path):
    with pytest.raises(ValueError, match="student.pt"):
        hear.load_model()
    with pytest.raises(FileNotFoundError):
        hear.load_model(str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="n_sounds, n_samples"):
        hear.get_scene_embeddings(torch.zeros(RATE), model)
    with pytest.raises(ValueError, match="timestamps must be 'frames' or 'windows'"):
        hear.load_model(str(checkpoint), timestamps="sliding")


def test_frame_timestamps_interpolate_the_student_frames(model, checkpoint):
    """The default timestamp embeddings are the student's own frame embeddings, read off at each timestamp."""
    student = load_student(checkpoint)
    audio = noise(1, 3.3, seed=5)
    emb, stamps = hear.get_timestamp_embeddings(audio, model)
    frames, times = student.embed_frames(audio[0], RATE)
    # a 1 s window has 2 steps of 0.5 s; each window keeps the one centred in its middle half: a frame every 0.5 s
    assert times.shape == (frames.shape[0],) and float(times[0]) == 0.0
    np.testing.assert_allclose(np.diff(times.numpy()), 0.5, atol=1e-6)
    for k, t in enumerate(times.tolist()):  # a timestamp on a frame centre carries that frame exactly
        stamp = int(round(t * 1000 / 50))
        if abs(stamp * 50 - 1000 * t) < 1e-3:
            torch.testing.assert_close(emb[0, stamp], frames[k], rtol=0, atol=TOL)
    middle = emb[0, 5]  # 250 ms: half-way between the frames at 0 and 500 ms
    torch.testing.assert_close(middle, 0.5 * (frames[0] + frames[1]), rtol=0, atol=TOL)


def test_hear_validator_accepts_the_module(checkpoint, monkeypatch):
    pytest.importorskip("hearvalidator")
    if "tensorflow" not in sys.modules:
        try:
            import tensorflow  # noqa: F401
        except ImportError:  # the validator imports tensorflow at the top but needs it only for tf models
            monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace(Module=type("Module", (), {})))
    from hearvalidator.validate import ValidateModel

    # hearvalidator 2021.0.2 predates 32 kHz tasks; the HEAR API lists 16000, 22050, 32000, 44100 and 48000 Hz
    monkeypatch.setattr(ValidateModel, "ACCEPTABLE_SAMPLE_RATE", [16000, 22050, 32000, 44100, 48000])
    ValidateModel("pipeline.hear", str(checkpoint), device="cpu")()
