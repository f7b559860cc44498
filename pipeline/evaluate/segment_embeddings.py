"""Segment embeddings of a detection task (pipeline/evaluate/detection.py): one row per segment, cached like clip
embeddings (pipeline/evaluate/embeddings.py), computed one of two ways.

One pass (`frames`): a model with frame embeddings (`frame_window` set: a student whose last feature map keeps
time) runs once over each clip, as pipeline.inference.frames cuts it (windows of the training length at 50%
overlap, the middle steps of each). A segment's embedding is the mean of the frames whose centres lie in it; a
segment shorter than the frame step holds no centre and gets the frames interpolated at its own centre (`on_grid`).
Sliding windows (`windows`): every other model (teachers, log-mel statistics, students without a time axis, and
the `-windows` rows of students) embeds, as a clip, a window of `window_seconds` centred on each segment, cut at
the clip's ends: the cut part is zero padding, and `lengths` says so, as for the last window of a clip.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from pipeline.audio.decode import DecodeError, decode
from pipeline.evaluate.embeddings import Embedder, cache_path, cached_embeddings
from pipeline.evaluate.tasks import Task, TaskError
from pipeline.inference.frames import frame_embeddings, on_grid


def segment_mode(embedder: Embedder) -> str:
    """"frames" (one pass over each clip) for a model with frame embeddings, else "windows"."""
    return "frames" if getattr(embedder, "frame_window", None) else "windows"


def segment_embeddings(task: Task, embedder: Embedder, cache_dir: str | Path, window_seconds: float,
                       batch_size: int = 16, device: str | torch.device = "cpu") -> np.ndarray:
    """(segments, dim) float32 embeddings of a detection task's rows (NaN where invalid), from the cache when
    present; `window_seconds`: the centred window of models embedding the sliding way."""
    if task.segments is None:
        raise ValueError(f"task {task.name} has no segments (it is not a detection task)")
    mode = segment_mode(embedder)
    setting = ["frames", int(embedder.frame_window)] if mode == "frames" else ["windows", float(window_seconds)]
    attrs = {"model": embedder.name, "model_fingerprint": embedder.fingerprint, "task": task.name,
             "task_fingerprint": task.fingerprint, "sample_rate": int(embedder.sample_rate), "segments": setting,
             "n_clips": task.n_clips, "dim": int(embedder.embed_dim)}
    compute = (partial(frame_segments, task, embedder, batch_size, device) if mode == "frames" else
               partial(window_segments, task, embedder, window_seconds, batch_size, device))
    return cached_embeddings(cache_path(cache_dir, task, embedder, setting), attrs, compute)


def frame_segments(task: Task, embedder: Embedder, batch_size: int,
                   device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """One pass of the frame embeddings over each clip, pooled per segment: ((n, dim) float32, (n,) valid)."""
    out = np.zeros((task.n_clips, embedder.embed_dim), dtype=np.float32)
    for rows, audio in clip_audio(task, embedder.sample_rate):
        wave = torch.from_numpy(audio)[None].to(device)
        with torch.inference_mode():
            emb, centres = frame_embeddings(embedder.embed_frames, wave, embedder.frame_window, batch_size)
        times = centres.cpu() / embedder.sample_rate
        out[rows] = pool_frames(emb[0].cpu(), times, torch.from_numpy(task.segments[rows])).numpy()
    return _checked(out)


def pool_frames(emb: torch.Tensor, times: torch.Tensor, bounds: torch.Tensor) -> torch.Tensor:
    """Frames (frames, dim) at increasing `times` (s) -> (segments, dim): the mean of the frames centred in each
    [start, end) of `bounds` (segments, 2), or the frames interpolated at the centre of a segment holding none."""
    inside = (times[None, :] >= bounds[:, :1]) & (times[None, :] < bounds[:, 1:])  # (segments, frames)
    counts = inside.sum(dim=1, keepdim=True)
    pooled = (inside.double() @ emb.double()) / counts.clamp(min=1)
    near = on_grid(emb[None].double(), times.double(), bounds.double().mean(dim=1))[0]
    return torch.where(counts > 0, pooled, near).float()


def window_segments(task: Task, embedder: Embedder, window_seconds: float, batch_size: int,
                    device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Each segment embedded from a window centred on it: ((n, dim) float32, (n,) valid)."""
    out = np.zeros((task.n_clips, embedder.embed_dim), dtype=np.float32)
    window = max(1, int(round(window_seconds * embedder.sample_rate)))
    for waves, lengths, rows in centred_batches(task, embedder.sample_rate, window, batch_size):
        with torch.inference_mode():
            emb = embedder.embed_batch(torch.from_numpy(waves).to(device), torch.from_numpy(lengths).to(device))
        if emb.shape != (len(rows), embedder.embed_dim):
            raise ValueError(f"embedder {embedder.name} returned {tuple(emb.shape)} for {len(rows)} windows, "
                             f"expected ({len(rows)}, {embedder.embed_dim})")
        out[rows] = emb.detach().float().cpu().numpy()
    return _checked(out)


def centred_batches(task: Task, sample_rate: int, window: int,
                    batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Batches of (windows (b, window) float32, real lengths (b,) int64, task rows (b,) int64), in row order: a
    window centred on each segment, cut at the clip's ends and zero-padded at its end."""
    waves, lengths, rows = [], [], []
    for clip_rows, audio in clip_audio(task, sample_rate):
        centres = np.round(task.segments[clip_rows].mean(axis=1) * sample_rate).astype(np.int64)
        for row, first in zip(clip_rows, centres - window // 2):
            piece = audio[max(first, 0):max(first + window, 0)]
            waves.append(np.pad(piece, (0, window - len(piece))))
            lengths.append(max(len(piece), 1))  # a segment past the audio's end still says one sample is real
            rows.append(row)
            if len(waves) == batch_size:
                yield np.stack(waves), np.asarray(lengths, dtype=np.int64), np.asarray(rows, dtype=np.int64)
                waves, lengths, rows = [], [], []
    if waves:
        yield np.stack(waves), np.asarray(lengths, dtype=np.int64), np.asarray(rows, dtype=np.int64)


def clip_audio(task: Task, sample_rate: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(task rows of one clip, its audio (samples,) float32 at `sample_rate`), clip by clip; a clip's segments
    are consecutive rows."""
    starts = np.flatnonzero(np.r_[True, task.paths[1:] != task.paths[:-1]])
    for start, end in zip(starts, np.r_[starts[1:], task.n_clips]):
        try:
            audio = decode(task.paths[start], sample_rate)
        except DecodeError as exc:
            raise TaskError(f"cannot decode task audio {task.paths[start]}: {exc}") from exc
        yield np.arange(start, end), audio


def _checked(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, their validity): a row with NaN/Inf is invalid (left out of training, scored as the mean)."""
    valid = np.isfinite(out).all(axis=1)
    return np.where(valid[:, None], out, 0.0).astype(np.float32), valid
