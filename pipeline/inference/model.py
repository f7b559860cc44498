"""`StudentModel`: a trained student behind its front-end, taking raw audio at any rate and length.

Types: every method taking one waveform accepts numpy or torch and returns the same kind (numpy in ->
numpy out; torch in -> torch out on the input's device). `forward` is the exported graph: a torch batch
(batch, samples) at `sample_rate` -> (batch, embedding_dim), gradients allowed.
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from pipeline.audio.logmel import LogMel
from pipeline.fingerprint import weights_fingerprint
from pipeline.inference.checkpoint import Checkpoint, CheckpointConfig, read_checkpoint, save_student
from pipeline.inference.classifier import StudentClassifier
from pipeline.inference.frames import FRAME_BATCH, frame_embeddings, on_grid
from pipeline.inference.modes import evaluating
from pipeline.inference.segments import split_segments, to_rate
from pipeline.students.head import HeadOptions, ProjectionHead, TeacherHeads, to_teacher_space
from pipeline.students.macs import count_params
from pipeline.students.registry import build_student

Wave = np.ndarray | torch.Tensor


class AudioEncoder(nn.Module):
    """Front-end + backbone as one graph: (batch, samples) at the front-end rate -> (batch, dim)."""

    def __init__(self, frontend: LogMel, backbone: nn.Module):
        super().__init__()
        self.frontend, self.backbone = frontend, backbone

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Embeddings of a batch of raw waveforms."""
        return self.backbone(self.frontend(waveforms))  # log-mels: (batch, mels, frames)


class FrameEncoder(nn.Module):
    """Front-end + backbone frames as one graph: (batch, window_samples) -> (batch, steps, dim), one row per step of
    the backbone's last feature map (the frame-level export; long audio is covered as pipeline.inference.frames says).
    Holds the encoder's own front-end and backbone, no copy."""

    def __init__(self, encoder: AudioEncoder):
        super().__init__()
        self.frontend, self.backbone = encoder.frontend, encoder.backbone

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Frame embeddings of a batch of training-length windows."""
        return self.backbone.frames(self.frontend(waveforms))


def weighted_mean(rows: torch.Tensor, weights: np.ndarray) -> torch.Tensor:
    """(n, dim) rows averaged with non-negative `weights` (n,) -> (dim,)."""
    w = torch.as_tensor(weights, dtype=rows.dtype, device=rows.device)
    return (rows * w[:, None]).sum(dim=0) / w.sum()


def like(reference: Wave, out: torch.Tensor) -> Wave:
    """`out` as numpy when `reference` is numpy, else as a tensor on `reference`'s device."""
    if isinstance(reference, torch.Tensor):
        return out.to(reference.device)
    return out.cpu().numpy()


class StudentModel(nn.Module):
    """A student checkpoint for use: embeddings, teacher-space projections, fine-tuning and export."""

    def __init__(self, config: CheckpointConfig):
        super().__init__()
        self.config = config
        backbone = build_student(config.student, config.student_options)
        if backbone.embed_dim != config.embed_dim:
            raise ValueError(f"checkpoint says embed_dim={config.embed_dim} but {config.student} "
                             f"{config.student_options} builds {backbone.embed_dim}")
        self.encoder = AudioEncoder(LogMel(config.frontend), backbone)
        options = HeadOptions(hidden=tuple(config.head_hidden), inputs=config.head_inputs)
        self.head = TeacherHeads(config.embed_dim, config.teacher_dims, options) if config.teacher_dims else \
            ProjectionHead(config.embed_dim, config.out_dim, options)
        self.frozen = False
        self.metrics: dict = {}
        # the head predicts (target - mean) / std when training normalised the targets; identity otherwise
        self.register_buffer("target_mean", torch.zeros(config.out_dim))
        self.register_buffer("target_std", torch.ones(config.out_dim))
        # 0: keep the head's own norm; one per teacher's head with several
        self.register_buffer("target_norm", torch.zeros(len(config.teacher_dims)) if config.teacher_dims
                             else torch.tensor(0.0))

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint) -> "StudentModel":
        """Rebuild from a loaded checkpoint (strict: every tensor must match)."""
        model = cls(ckpt.config)
        model.encoder.backbone.load_state_dict(ckpt.student)
        model.head.load_state_dict(ckpt.head)
        if ckpt.target_mean is not None:
            model.target_mean.copy_(ckpt.target_mean)
            model.target_std.copy_(ckpt.target_std)
            model.target_norm.copy_(ckpt.target_norm)
        model.metrics = ckpt.metrics
        return model.eval()

    @property
    def sample_rate(self) -> int:
        """Rate (Hz) of the audio `forward` takes; other rates are resampled by `embed`."""
        return self.config.frontend.sample_rate

    @property
    def window_samples(self) -> int:
        """Segment length at `sample_rate`: the training example length."""
        return self.config.window_samples

    @property
    def embedding_dim(self) -> int:
        """Size of an embedding from `embed`."""
        return self.config.embed_dim

    @property
    def teachers(self) -> list[str]:
        """The teachers the head projects onto, in output column order (several: one head each)."""
        return list(self.config.meta.get("teachers") or [])

    @property
    def params(self) -> int:
        """Parameters of the backbone (the part that is exported; the front-end has none)."""
        return count_params(self.encoder.backbone)

    @property
    def fingerprint(self) -> str:
        """Hash of the backbone weights and front-end settings (the same as the evaluate stage's)."""
        return weights_fingerprint(self.encoder.backbone.state_dict(), dataclasses.asdict(self.config.frontend))

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, samples) at `sample_rate` -> (batch, embedding_dim)."""
        return self.encoder(waveforms)

    def segments(self, waveform: Wave, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        """Resampled, zero-padded segments (n, window_samples) and the real samples in each (n,)."""
        return split_segments(to_rate(waveform, sample_rate, self.sample_rate), self.window_samples)

    def map_segments(self, fn: Callable[[torch.Tensor], torch.Tensor], segments: np.ndarray,
                     batch_size: int = 16) -> torch.Tensor:
        """`fn` over (n, samples) segments in batches, in eval mode without autograd -> (n, ...) on the CPU."""
        device = next(self.parameters()).device
        with evaluating(self):
            outs = [fn(torch.from_numpy(segments[i: i + batch_size]).to(device)).float().cpu()
                    for i in range(0, len(segments), batch_size)]
        return torch.cat(outs)

    def embed(self, waveform: Wave, sample_rate: int, batch_size: int = 16) -> Wave:
        """(samples,) or (channels, samples) at any rate -> (n_segments, embedding_dim), one row per window."""
        segs, _ = self.segments(waveform, sample_rate)
        return like(waveform, self.map_segments(self.encoder, segs, batch_size))

    def embed_clip(self, waveform: Wave, sample_rate: int, batch_size: int = 16) -> Wave:
        """(embedding_dim,) clip embedding: segment embeddings averaged, weighted by their real samples."""
        return self.reduce_segments(self.encoder, waveform, sample_rate, batch_size)

    def frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, window_samples) at `sample_rate` -> (batch, steps, embedding_dim): one row per time step of the
        backbone's last feature map (pipeline.inference.frames explains how long audio is covered)."""
        return FrameEncoder(self.encoder)(waveforms)

    def embed_frames(self, waveform: Wave, sample_rate: int, hop_ms: float | None = None,
                     batch_size: int = FRAME_BATCH) -> tuple[Wave, Wave]:
        """Frame embeddings (n_frames, embedding_dim) of audio of any length and their times (n_frames,) in
        seconds: at the backbone's own step (frame centres), or every `hop_ms` from 0 (interpolated)."""
        wave = torch.from_numpy(to_rate(waveform, sample_rate, self.sample_rate))
        device = next(self.parameters()).device
        with evaluating(self):
            emb, centres = frame_embeddings(self.frames, wave[None].to(device), self.window_samples, batch_size)
        times = centres.cpu() / self.sample_rate
        if hop_ms is not None:
            if hop_ms <= 0:
                raise ValueError(f"hop_ms must be > 0, got {hop_ms}")
            grid = torch.arange(0, len(wave) / self.sample_rate, hop_ms / 1000, dtype=torch.float64)
            emb, times = on_grid(emb, times.to(emb.device), grid.to(emb.device)), grid
        return like(waveform, emb[0]), like(waveform, times.float())

    def project(self, waveform: Wave, sample_rate: int, batch_size: int = 16, teacher: str | None = None) -> Wave:
        """(n_segments, out_dim): embeddings mapped by the training head into the teacher's space (or logits);
        with `teacher`, only that teacher's head (n_segments, its dim)."""
        segs, _ = self.segments(waveform, sample_rate)
        return like(waveform, self.map_segments(lambda w: self.teacher_space(w, teacher), segs, batch_size))

    def teacher_space(self, waveforms: torch.Tensor, teacher: str | None = None) -> torch.Tensor:
        """(batch, samples) -> (batch, out_dim) projected embeddings in the teachers' own spaces (several teachers:
        side by side, in `teachers` order); with `teacher`, only its (batch, dim) block."""
        return self.project_embedding(self.encoder(waveforms), teacher)

    def project_embedding(self, emb: torch.Tensor, teacher: str | None = None) -> torch.Tensor:
        """Backbone embeddings (batch, embedding_dim) -> teacher space, as `teacher_space`."""
        if not self.config.teacher_dims:
            if teacher is not None and self.teachers != [teacher]:
                raise ValueError(f"teacher {teacher!r}: this student has one head, trained on {self.teachers}")
            return to_teacher_space(self.head(emb), self.target_mean, self.target_std, self.target_norm)
        if teacher is not None and teacher not in self.teachers:
            raise ValueError(f"teacher {teacher!r}: this student's heads are {self.teachers}")
        blocks = zip(self.teachers, self.head.heads, self.target_mean.split(self.head.dims),
                     self.target_std.split(self.head.dims), self.target_norm)
        return torch.cat([to_teacher_space(head(emb), mean, std, norm) for name, head, mean, std, norm in blocks
                          if teacher in (None, name)], dim=-1)

    def reduce_segments(self, fn: Callable[[torch.Tensor], torch.Tensor], waveform: Wave, sample_rate: int,
                        batch_size: int = 16) -> Wave:
        """`fn` on each segment, averaged over segments weighted by their real samples."""
        segs, real = self.segments(waveform, sample_rate)
        return like(waveform, weighted_mean(self.map_segments(fn, segs, batch_size), real))

    def freeze_backbone(self) -> "StudentModel":
        """Stop gradients into the backbone and keep it in eval mode (batch-norm statistics fixed)."""
        self.frozen = True
        self.encoder.requires_grad_(False)
        return self.train(self.training)

    def unfreeze_backbone(self) -> "StudentModel":
        """Let the backbone train again."""
        self.frozen = False
        self.encoder.requires_grad_(True)
        return self.train(self.training)

    def train(self, mode: bool = True) -> "StudentModel":
        """As nn.Module.train, except that a frozen backbone stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def with_head(self, n_classes: int, hidden: Sequence[int] = ()) -> StudentClassifier:
        """A copy of this student plus a fresh head (linear, or an MLP with `hidden` sizes) giving class logits."""
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        head = ProjectionHead(self.embedding_dim, n_classes, HeadOptions(hidden=tuple(hidden)))
        return StudentClassifier(copy.deepcopy(self), head, n_classes)

    def save(self, path: str | Path, metrics: dict | None = None) -> Path:
        """Write this model (possibly fine-tuned) in the `student.pt` format."""
        norm = {"target_mean": self.target_mean, "target_std": self.target_std, "target_norm": self.target_norm}
        return save_student(path, self.encoder.backbone, self.head, self.config, metrics, target_norm=norm)


def load_student(path: str | Path) -> StudentModel:
    """A trained student from `student.pt` (or its folder), in eval mode on the CPU."""
    return StudentModel.from_checkpoint(read_checkpoint(path))
