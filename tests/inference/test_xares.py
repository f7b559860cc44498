"""The X-ARES encoder: the real `check_audio_encoder` accepts it, and its frames are the student's."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from pipeline.audio.decode import resample
from pipeline.audio.logmel import LogMelConfig
from pipeline.inference.checkpoint import save_student
from pipeline.inference.xares import StudentEncoder
from pipeline.students.head import HeadOptions, ProjectionHead
from pipeline.students.registry import build_student


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A fresh 32 kHz MobileNetV3 (2 s window, the demo's) with the spectrum summary, saved as `student.pt`."""
    torch.manual_seed(0)
    options = {"width": 0.1, "summary_bands": 128}
    student = build_student("mobilenetv3", options)
    frontend = LogMelConfig(sample_rate=32000)
    head = ProjectionHead(student.embed_dim, 8, HeadOptions(hidden=()))
    config = {"student": "mobilenetv3", "student_options": options, "frontend": dataclasses.asdict(frontend),
              "window_samples": 64000, "embed_dim": student.embed_dim, "out_dim": 8, "head_hidden": []}
    return save_student(tmp_path_factory.mktemp("xares") / "student.pt", student.eval(), head, config)


def test_the_xares_checker_accepts_the_student(checkpoint):
    checker = pytest.importorskip("xares.audio_encoder_checker")
    encoder = StudentEncoder.load(checkpoint)
    assert encoder.sampling_rate == 16000 and encoder.hop_size_in_ms == pytest.approx(500.0)
    assert checker.check_audio_encoder(encoder)


def test_frames_are_the_student_frames_of_the_resampled_audio(checkpoint):
    encoder = StudentEncoder.load(checkpoint)
    audio = torch.from_numpy(np.random.default_rng(0).uniform(-0.3, 0.3, (2, 56000)).astype(np.float32))
    out = encoder(audio)  # 3.5 s at 16 kHz
    assert out.shape == (2, 7, encoder.output_dim)  # frames centred at 0.25, 0.75, ... 3.25 s
    for row in range(2):
        expected, times = encoder.student.embed_frames(resample(audio[row].numpy(), 16000, 32000), 32000)
        np.testing.assert_allclose(out[row].numpy(), expected, atol=1e-5)
        np.testing.assert_allclose(times, 0.25 + 0.5 * np.arange(7), atol=1e-6)
    with pytest.raises(ValueError, match="batch, samples"):
        encoder(audio[0])
