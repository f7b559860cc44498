"""The HEAR 2021 model API (https://hearbenchmark.com/hear-api.html) for any trained student checkpoint.

heareval and hear-validator import a module by its dotted name and call `load_model`,
`get_scene_embeddings` and `get_timestamp_embeddings` on it; this module is that module, e.g.
`hear-validator pipeline.hear -m cache/students/demo/student.pt`. The model takes audio at the student's
own rate (32 kHz for the paper's students, one of HEAR's published task rates), so nothing is resampled.

Scene embeddings are `StudentModel.embed_clip`: back-to-back segments of the training window (the last
zero-padded), each embedded, averaged with weights equal to the real samples in each segment.

Timestamp embeddings, a timestamp every `hop_ms` (default 50 ms, HEAR's suggestion) from 0 to the end of the
clip; the hop is rounded to whole samples and the timestamps are computed from the rounded hop, so they never
drift. Two ways to compute them (`timestamps=`):
- `frames` (default): the student's frame embeddings (pipeline.inference.frames: training-length windows at 50%
  overlap, the middle steps of each), interpolated onto the timestamps. 2 s of student input per second of audio.
- `windows`: one window of `window_seconds` (default 1 s) centred on every timestamp, zeros beyond either end,
  embedded as a clip. Each embedding describes exactly its neighbourhood, at window / hop seconds of student
  input per second of audio (20 s for 1 s windows at 50 ms).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.inference.frames import FRAME_BATCH, frame_embeddings, on_grid
from pipeline.inference.model import StudentModel, load_student
from pipeline.inference.modes import evaluating


class HearStudent(nn.Module):
    """A student with the attributes the HEAR API reads, plus how its timestamp windows are cut."""

    def __init__(self, student: StudentModel, hop_ms: float = 50.0, window_seconds: float = 1.0,
                 batch_size: int = 64, timestamps: str = "frames", frame_batch: int = FRAME_BATCH):
        super().__init__()
        rate = int(student.sample_rate)
        if hop_ms <= 0 or window_seconds <= 0 or batch_size < 1 or frame_batch < 1:
            raise ValueError(f"need hop_ms > 0, window_seconds > 0, batch_size >= 1 and frame_batch >= 1, got "
                             f"{hop_ms}, {window_seconds}, {batch_size}, {frame_batch}")
        if timestamps not in ("frames", "windows"):
            raise ValueError(f"timestamps must be 'frames' or 'windows', got {timestamps!r}")
        self.timestamps = timestamps
        self.student = student.eval()
        self.sample_rate = rate
        self.scene_embedding_size = self.timestamp_embedding_size = int(student.embedding_dim)
        self.hop = max(1, round(hop_ms * rate / 1000))
        self.window = 2 * max(1, round(window_seconds * rate / 2))  # even, so each window's centre is a sample
        self.batch_size = batch_size  # windows per forward for scenes and the `windows` way
        self.frame_batch = frame_batch  # training-length windows per forward for the `frames` way

    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """(n_sounds, n_windows, samples) -> (n_sounds, n_windows, dim) float32, `batch_size` windows per forward."""
        n_sounds, n_windows = windows.shape[:2]
        flat = torch.arange(n_sounds * n_windows, device=windows.device)
        # gathering a batch copies only that batch: `windows` may be an overlapping view of the audio
        outs = [self.student.encoder(windows[rows // n_windows, rows % n_windows]).float()
                for rows in flat.split(self.batch_size)]
        return torch.cat(outs).reshape(n_sounds, n_windows, -1)

    def scene(self, audio: torch.Tensor) -> torch.Tensor:
        """(n_sounds, samples) -> (n_sounds, dim): training-window segments averaged by their real samples."""
        n, window = audio.shape[1], self.student.window_samples
        n_segments = -(-n // window)
        segments = F.pad(audio, (0, n_segments * window - n)).reshape(len(audio), n_segments, window)
        real = (n - torch.arange(n_segments, device=audio.device) * window).clamp(0, window).float()
        return (self.encode(segments) * real[None, :, None]).sum(dim=1) / real.sum()

    def timestamped(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_sounds, samples) -> embeddings (n_sounds, n_stamps, dim) and timestamps (n_sounds, n_stamps) in ms."""
        n_sounds, n = audio.shape
        n_stamps = 1 + n // self.hop  # centres 0, hop, ... up to the last sample
        step_ms = self.hop * 1000 / self.sample_rate
        stamps = torch.arange(n_stamps, dtype=torch.float64, device=audio.device) * step_ms  # float64: no drift
        if self.timestamps == "frames":
            emb, centres = frame_embeddings(self.student.frames, audio, self.student.window_samples, self.frame_batch)
            emb = on_grid(emb, centres * 1000 / self.sample_rate, stamps)
        else:
            half = self.window // 2
            right = max(0, (n_stamps - 1) * self.hop + self.window - half - n)
            windows = F.pad(audio, (half, right)).unfold(1, self.window, self.hop)[:, :n_stamps]  # view
            emb = self.encode(windows)
        return emb, stamps.float().expand(n_sounds, n_stamps)


def load_model(model_file_path: str = "", **kwargs) -> HearStudent:
    """A `student.pt` (or its folder) behind the HEAR API; kwargs: hop_ms, window_seconds, batch_size,
    timestamps ('frames' or 'windows'), frame_batch."""
    if not model_file_path:
        raise ValueError("pass the path of a trained student.pt (or its folder); there are no default weights")
    return HearStudent(load_student(model_file_path), **kwargs)


def as_batch(audio: torch.Tensor, model: HearStudent) -> torch.Tensor:
    """HEAR input (n_sounds, n_samples) in [-1, 1] as float32 on the model's device."""
    audio = torch.as_tensor(audio)
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise ValueError(f"expected audio of shape (n_sounds, n_samples) with n_samples >= 1, got {tuple(audio.shape)}")
    return audio.to(device=next(model.parameters()).device, dtype=torch.float32)


def get_scene_embeddings(audio: torch.Tensor, model: HearStudent) -> torch.Tensor:
    """(n_sounds, n_samples) at `model.sample_rate` -> (n_sounds, scene_embedding_size) float32."""
    with evaluating(model):
        return model.scene(as_batch(audio, model))


def get_timestamp_embeddings(audio: torch.Tensor, model: HearStudent) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_sounds, n_samples) -> embeddings (n_sounds, n_timestamps, dim) and centre timestamps (ms), float32."""
    with evaluating(model):
        return model.timestamped(as_batch(audio, model))
