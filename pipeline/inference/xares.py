"""A student as an X-ARES audio encoder (https://github.com/jimbozhang/xares).

X-ARES feeds 16 kHz audio as a (batch, samples) tensor and reads frame embeddings (batch, frames, output_dim)
spaced `hop_size_in_ms` apart; clip tasks pool them, frame tasks align them by that hop. The encoder
resamples to the student's own rate (soxr, per row) and returns `StudentModel`'s frame embeddings at the
backbone's native step (pipeline.inference.frames): frame i is centred at (i + 1/2) * hop, as X-ARES assumes.
Use it from an X-ARES encoder file as `StudentEncoder.load("cache/students/demo")`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.audio.decode import resample
from pipeline.inference.frames import FRAME_BATCH, frame_embeddings
from pipeline.inference.model import StudentModel, load_student
from pipeline.inference.modes import evaluating

XARES_RATE = 16000


class StudentEncoder(nn.Module):
    """X-ARES encoder protocol: `sampling_rate`, `output_dim`, `hop_size_in_ms`, forward (B, N) -> (B, T, D)."""

    def __init__(self, student: StudentModel, batch_size: int = FRAME_BATCH):
        super().__init__()
        self.student = student.eval()
        self.sampling_rate = XARES_RATE
        self.output_dim = int(student.embedding_dim)
        self.batch_size = batch_size
        _, centres = frame_embeddings(self._frames, torch.zeros(1, 2 * student.window_samples),
                                      student.window_samples, batch_size)
        step = float(centres[1] - centres[0])
        if abs(float(centres[0]) - step / 2) > 1:  # frame i must stand for [i * hop, (i + 1) * hop)
            raise ValueError(f"frames start at {float(centres[0])} samples, not half a step ({step / 2})")
        self.hop_size_in_ms = 1000 * step / student.sample_rate

    @classmethod
    def load(cls, path: str | Path, **kwargs) -> "StudentEncoder":
        """The encoder of a `student.pt` (or its folder)."""
        return cls(load_student(path), **kwargs)

    def _frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        with evaluating(self.student):
            return self.student.frames(waveforms)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(batch, samples) at 16 kHz -> (batch, frames, output_dim) float32."""
        if audio.ndim != 2:
            raise ValueError(f"expected audio of shape (batch, samples), got {tuple(audio.shape)}")
        rows = [resample(row, self.sampling_rate, self.student.sample_rate)
                for row in audio.detach().float().cpu().numpy()]
        wave = torch.from_numpy(np.stack(rows)).to(next(self.student.parameters()).device)
        emb, _ = frame_embeddings(self._frames, wave, self.student.window_samples, self.batch_size)
        return emb
