"""The student Python API: checkpoint round trip, any rate and length, clip pooling, projection, fine-tuning."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from student_setup import WINDOW, fresh_student, trained_student

from pipeline.audio.decode import resample
from pipeline.audio.logmel import LogMel, LogMelConfig
from pipeline.config import ConfigError
from pipeline.inference.checkpoint import read_checkpoint, save_student
from pipeline.inference.model import StudentModel, load_student
from pipeline.students.head import HeadOptions, ProjectionHead, to_teacher_space
from pipeline.students.registry import build_student


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint written by a real (tiny) training run."""
    path, _ = trained_student(tmp_path_factory.mktemp("train"))
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo architecture (32 kHz, 128 mels, 4 s window) with fresh weights."""
    return load_student(fresh_student(tmp_path_factory.mktemp("fresh") / "student.pt"))


def reference(path, segments: np.ndarray) -> np.ndarray:
    """Embeddings rebuilt independently from the raw checkpoint: LogMel -> registry student."""
    raw = read_checkpoint(path)
    student = build_student(raw.config.student, raw.config.student_options)
    student.load_state_dict(raw.student)
    with torch.no_grad():
        return student.eval()(LogMel(raw.config.frontend)(torch.from_numpy(segments))).numpy()


def noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(round(seconds * rate)))).astype(np.float32)


def test_trained_checkpoint_round_trip(trained, tmp_path):
    model = load_student(trained)
    ckpt = read_checkpoint(trained)
    assert (model.sample_rate, model.window_samples, model.embedding_dim) == (16000, WINDOW, 96)
    assert model.params == ckpt.metrics["params"]
    assert model.config.meta["teachers"] == ["band"] and "corpus_fingerprint" in model.config.meta
    assert not model.training
    x = noise(2.0, 16000)
    model.save(tmp_path / "copy.pt", ckpt.metrics)
    again = load_student(tmp_path / "copy.pt")
    assert again.fingerprint == model.fingerprint
    assert again.config == model.config
    np.testing.assert_array_equal(again.embed(x, 16000), model.embed(x, 16000))


def test_fingerprint_follows_weights(trained):
    model = load_student(trained)
    before = model.fingerprint
    with torch.no_grad():
        next(model.encoder.backbone.parameters())[0].add_(1e-3)
    assert model.fingerprint != before


def test_embed_matches_independent_forward(trained):
    model = load_student(trained)
    x = noise(2.25, 16000)  # 4.5 windows -> 5 segments, the last half padded
    out = model.embed(x, 16000)
    padded = np.zeros(5 * WINDOW, np.float32)
    padded[: len(x)] = x
    np.testing.assert_allclose(out, reference(trained, padded.reshape(5, WINDOW)), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("rate", [16000, 44100])
@pytest.mark.parametrize("seconds", [0.5, 10.0, 25.0])
def test_any_rate_and_length(demo, rate, seconds):
    x = noise(seconds, rate, seed=int(seconds))
    out = demo.embed(x, rate)
    window = demo.window_samples  # 4 s at 32 kHz
    at_rate = resample(x, rate, demo.sample_rate)
    n = max(1, -(-len(at_rate) // window))
    assert out.shape == (n, demo.embedding_dim) and out.dtype == np.float32
    padded = np.zeros(n * window, np.float32)
    padded[: len(at_rate)] = at_rate
    expected = demo(torch.from_numpy(padded.reshape(n, window))).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_numpy_and_torch_in_and_out(demo):
    x = noise(1.0, 22050)
    as_numpy = demo.embed(x, 22050)
    as_torch = demo.embed(torch.from_numpy(x), 22050)
    assert isinstance(as_numpy, np.ndarray) and isinstance(as_torch, torch.Tensor)
    np.testing.assert_allclose(as_torch.numpy(), as_numpy, rtol=1e-6)
    stereo = np.stack([x, x])  # (channels, samples) is averaged to mono
    np.testing.assert_allclose(demo.embed(stereo, 22050), as_numpy, rtol=1e-5)
    with pytest.raises(ValueError, match="transpose"):
        demo.embed(stereo.T, 22050)
    with pytest.raises(ValueError, match="empty"):
        demo.embed(np.zeros(0, np.float32), 22050)


def test_embed_clip_weights_segments_by_real_audio(trained):
    model = load_student(trained)
    x = noise(0.75, 16000)  # one full window plus half a window
    segments = model.embed(x, 16000)
    expected = (segments[0] * WINDOW + segments[1] * WINDOW / 2) / (1.5 * WINDOW)
    np.testing.assert_allclose(model.embed_clip(x, 16000), expected, rtol=1e-5, atol=1e-7)


def test_project_is_head_of_embedding(trained):
    model = load_student(trained)
    raw = read_checkpoint(trained)
    head = ProjectionHead(raw.config.embed_dim, raw.config.out_dim, HeadOptions(hidden=raw.config.head_hidden))
    head.load_state_dict(raw.head)
    x = noise(1.3, 16000)
    projected = model.project(x, 16000)
    assert projected.shape == (3, raw.config.out_dim)
    with torch.no_grad():
        y = head(torch.from_numpy(model.embed(x, 16000)))
    assert raw.target_mean is not None  # training centred the targets: project maps back to the teacher's space
    expected = to_teacher_space(y, raw.target_mean, raw.target_std, raw.target_norm)
    np.testing.assert_allclose(projected, expected.numpy(), rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory):
    """A checkpoint of a real (tiny) two-teacher run: one head per teacher (band 16-d, band2 8-d)."""
    path, _ = trained_student(tmp_path_factory.mktemp("train2"), teachers=2)
    return path


def test_per_teacher_heads_save_load_and_project(two_heads, tmp_path):
    model = load_student(two_heads)
    raw = read_checkpoint(two_heads)
    assert model.teachers == ["band", "band2"] and raw.config.teacher_dims == (16, 8)
    assert raw.target_norm.shape == (2,)  # each teacher's targets were normalised on their own
    x = noise(1.3, 16000)
    emb = torch.from_numpy(model.embed(x, 16000))
    blocks = []
    for t, (name, dim) in enumerate(zip(model.teachers, (16, 8))):
        head = ProjectionHead(raw.config.embed_dim, dim, HeadOptions(hidden=raw.config.head_hidden))
        head.load_state_dict({k.split(".", 2)[2]: v for k, v in raw.head.items() if k.startswith(f"heads.{t}.")})
        cols = slice(16 * t, 16 + 8 * t)  # teacher t's columns of out_dim
        with torch.no_grad():
            expected = to_teacher_space(head(emb), raw.target_mean[cols], raw.target_std[cols], raw.target_norm[t])
        got = model.project(x, 16000, teacher=name)
        assert got.shape == (3, dim)
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-6)
        blocks.append(got)
    np.testing.assert_allclose(model.project(x, 16000), np.concatenate(blocks, axis=1), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="heads are"):
        model.project(x, 16000, teacher="aisfx")
    model.save(tmp_path / "copy.pt")
    again = load_student(tmp_path / "copy.pt")
    assert again.config == model.config
    np.testing.assert_array_equal(again.project(x, 16000, teacher="band2"), blocks[1])


def test_one_head_answers_for_its_own_teacher_only(trained):
    model = load_student(trained)
    x = noise(1.0, 16000)
    np.testing.assert_array_equal(model.project(x, 16000, teacher="band"), model.project(x, 16000))
    with pytest.raises(ValueError, match="one head"):
        model.project(x, 16000, teacher="crepe")


def fine_tune_step(classifier, seed: int = 0) -> None:
    """One SGD step on a random labelled batch."""
    g = torch.Generator().manual_seed(seed)
    waves, labels = 0.1 * torch.randn(4, WINDOW, generator=g), torch.tensor([0, 1, 2, 0])
    params = [p for p in classifier.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.5)
    loss = torch.nn.functional.cross_entropy(classifier(waves), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()


def snapshot(module: torch.nn.Module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


def changed(before: dict, module: torch.nn.Module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


def test_frozen_backbone_trains_only_the_new_head(trained):
    model = load_student(trained)
    original = snapshot(model)
    classifier = model.with_head(3, hidden=[16]).freeze_backbone().train()
    assert not classifier.student.encoder.training  # batch-norm statistics stay fixed
    backbone, head = snapshot(classifier.student.encoder), snapshot(classifier.classifier)
    fine_tune_step(classifier)
    assert changed(backbone, classifier.student.encoder) == set()
    assert changed(head, classifier.classifier)
    assert changed(original, model) == set()  # with_head works on a copy
    logits = classifier.predict(noise(1.2, 44100), 44100)
    assert logits.shape == (3,) and classifier.training  # predict restores the training mode


def test_unfrozen_backbone_trains(trained):
    classifier = load_student(trained).with_head(3).freeze_backbone().unfreeze_backbone().train()
    assert isinstance(classifier.classifier.mlp[0], torch.nn.Linear) and len(classifier.classifier.mlp) == 1
    backbone = snapshot(classifier.student.encoder)
    fine_tune_step(classifier)
    moved = changed(backbone, classifier.student.encoder)
    assert any(k.endswith("weight") for k in moved) and any(k.endswith("running_mean") for k in moved)


def test_save_student_validates_config_first(tmp_path):
    student = build_student("mobilenetv3", {"width": 0.1})
    head = ProjectionHead(student.embed_dim, 8)
    with pytest.raises(ConfigError, match="window_samples"):
        save_student(tmp_path / "s.pt", student, head, {"student": "mobilenetv3", "frontend": {},
                                                         "embed_dim": student.embed_dim, "out_dim": 8})
    assert not (tmp_path / "s.pt").exists()


def test_wrong_architecture_is_refused(tmp_path):
    path = fresh_student(tmp_path / "s.pt", LogMelConfig(sample_rate=16000, n_mels=32, fmax=8000.0), 0.5)
    raw = torch.load(path, weights_only=True)
    raw["config"] = raw["config"].replace('"width": 0.2', '"width": 0.3')
    torch.save(raw, path)
    with pytest.raises(ValueError, match="embed_dim"):
        load_student(path)
    with pytest.raises(FileNotFoundError, match="ssondo train"):
        load_student(tmp_path / "missing")


def test_model_from_config_has_fresh_weights(trained):
    fresh = StudentModel(read_checkpoint(trained).config)
    assert fresh.fingerprint != load_student(trained).fingerprint
