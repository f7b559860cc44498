"""Models under evaluation behind the `Embedder` protocol: the log-mel statistics baseline, teachers, students."""
from __future__ import annotations

import dataclasses
import hashlib
import json

import torch
from torch import nn

from pipeline.audio.logmel import LogMel, LogMelConfig, band_statistics
from pipeline.teachers.base import Teacher
from pipeline.fingerprint import weights_fingerprint


def real_frames(lengths: torch.Tensor, hop: int, n_frames: int) -> torch.Tensor:
    """(batch, frames) bool mask of the centred STFT frames that start within a row's real samples."""
    counts = torch.clamp(1 + lengths.long() // hop, 1, n_frames)  # (batch,)
    return torch.arange(n_frames, device=lengths.device)[None, :] < counts[:, None]


class LogMelStats(nn.Module):
    """Baseline without learning: per-band mean and std over time of log-mels, (batch, 2 * n_mels)."""

    def __init__(self, sample_rate: int = 32000, n_mels: int = 64, name: str = "logmel"):
        super().__init__()
        self.name = name
        cfg = LogMelConfig(sample_rate=sample_rate, n_mels=n_mels, fmax=min(16000.0, sample_rate / 2))
        self.frontend = LogMel(cfg)
        self.sample_rate, self.embed_dim = sample_rate, 2 * n_mels
        blob = json.dumps({"kind": "logmel-stats-v1", **dataclasses.asdict(cfg)}, sort_keys=True)
        self.fingerprint = hashlib.sha256(blob.encode()).hexdigest()[:16]

    def embed_batch(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Mean and std of each mel band over the frames covering real (unpadded) audio."""
        mel = self.frontend(waveforms)  # (batch, mels, frames)
        mask = real_frames(lengths, self.frontend.hop_length, mel.shape[-1])[:, None, :].float()  # (batch, 1, frames)
        return band_statistics(mel, mask)


class TeacherEmbedder:
    """A teacher (pipeline.teachers protocol) seen as an Embedder; padding is handled by its `lengths`."""

    def __init__(self, teacher: Teacher):
        self.teacher = teacher
        self.name, self.fingerprint = teacher.name, teacher.fingerprint
        self.sample_rate, self.embed_dim = teacher.sample_rate, teacher.embed_dim

    def embed_batch(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The teacher's window embeddings."""
        return self.teacher.embed(waveforms, lengths)


class StudentEmbedder:
    """A student (log-mels -> embedding, optionally with its projection head) behind its log-mel front-end.

    With `window` (its training length in samples) and a student that keeps time in its last feature map, it also
    gives frame embeddings (`frame_window` is then that window; None otherwise), which detection tasks use.
    """

    def __init__(self, name: str, student: nn.Module, logmel: LogMelConfig, embed_dim: int | None = None,
                 window: int | None = None):
        self.name, self.student = name, student.eval()
        self.frontend = LogMel(logmel)
        self.sample_rate = logmel.sample_rate
        self.embed_dim = int(embed_dim if embed_dim is not None else student.embed_dim)
        self.fingerprint = weights_fingerprint(student.state_dict(), dataclasses.asdict(logmel))
        self.frame_window = window if window is not None and gives_frames(self.student, self.frontend, window) \
            else None

    def to(self, device: str | torch.device) -> "StudentEmbedder":
        """Move the student and its front-end to `device`."""
        self.student.to(device)
        self.frontend.to(device)
        return self

    def embed_batch(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Student embeddings of the windows' log-mels (the student sees padding as it did in training)."""
        return self.student(self.frontend(waveforms))

    def embed_frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, frame_window) -> (batch, steps, embed_dim): one embedding per time step of each window."""
        return self.student.frames(self.frontend(waveforms))


def gives_frames(student: nn.Module, frontend: LogMel, window: int) -> bool:
    """Whether `student` gives frame embeddings of a `window`-sample input (students without a time axis in their
    last feature map, or whose pooling has no per-step meaning, refuse)."""
    if not callable(getattr(student, "frames", None)):
        return False
    try:
        with torch.inference_mode():
            student.frames(frontend(torch.zeros(1, window)))
    except (NotImplementedError, ValueError):
        return False
    return True
