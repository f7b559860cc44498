"""Embedding audio files with a student: one row per file (clip embedding) or one row per segment."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pipeline.audio.decode import DecodeError, decode
from pipeline.inference.model import StudentModel, weighted_mean
from pipeline.inference.segments import split_segments
from pipeline.prepare import AUDIO_EXTENSIONS


def find_audio(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given plus audio files found recursively under folders (by extension), sorted and unique."""
    found: set[Path] = set()
    for path in map(Path, paths):
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        elif path.is_file():
            found.add(path)
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return sorted(found)


class DecodedFiles(Dataset):
    """Item i -> (i, float32 waveform at `sample_rate` or None, error reason, error detail)."""

    def __init__(self, files: Sequence[Path], sample_rate: int):
        self.files, self.sample_rate = list(files), sample_rate

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        try:
            return i, decode(self.files[i], self.sample_rate), "", ""
        except DecodeError as exc:  # a bad file is reported, it does not stop the run
            return i, None, exc.reason, exc.detail


def as_is(item):
    """Collate function that leaves an item untouched (numpy stays numpy, None stays None)."""
    return item


@dataclass
class FileEmbeddings:
    """Rows (path, seconds, segments; plus segment, start_s, end_s per segment), their vectors, the failures."""

    rows: pd.DataFrame
    embeddings: np.ndarray  # (rows, dim) float32
    errors: pd.DataFrame    # path, reason, detail


@dataclass
class Pending:
    """A decoded file waiting for its segments to be embedded in a shared batch."""

    path: Path
    segments: np.ndarray  # (n, window)
    real: np.ndarray      # (n,) real samples per segment
    seconds: float


def embed_pending(model: StudentModel, group: list[Pending], per_segment: bool, batch_size: int):
    """Embed the segments of several files at once; returns their rows and (rows, dim) vectors."""
    out = model.map_segments(model.encoder, np.concatenate([p.segments for p in group]), batch_size)
    rows, vectors, at = [], [], 0
    rate = model.sample_rate
    for p in group:
        emb, at = out[at: at + len(p.segments)], at + len(p.segments)  # (n, dim)
        base = {"path": str(p.path), "seconds": p.seconds, "segments": len(p.segments)}
        if per_segment:
            starts = np.arange(len(p.segments)) * model.window_samples
            rows += [{**base, "segment": k, "start_s": s / rate, "end_s": (s + r) / rate}
                     for k, (s, r) in enumerate(zip(starts.tolist(), p.real.tolist()))]
            vectors.append(emb.numpy())
        else:
            rows.append(base)
            vectors.append(weighted_mean(emb, p.real)[None].numpy())
    return rows, vectors


def embed_files(model: StudentModel, files: Sequence[Path], per_segment: bool = False, batch_size: int = 32,
                workers: int = 0, progress: bool = True) -> FileEmbeddings:
    """Decode (in `workers` processes) and embed `files`; undecodable files are listed in `errors`."""
    loader = DataLoader(DecodedFiles(files, model.sample_rate), batch_size=None, num_workers=workers,
                        collate_fn=as_is)
    rows, vectors, errors, group = [], [], [], []
    for i, wave, reason, detail in tqdm(loader, total=len(files), desc="embed-audio", unit="file",
                                        disable=not progress, mininterval=1.0):
        if wave is None:
            errors.append({"path": str(files[i]), "reason": reason, "detail": detail})
            continue
        group.append(Pending(files[i], *split_segments(wave, model.window_samples), len(wave) / model.sample_rate))
        if sum(len(p.segments) for p in group) >= batch_size:
            new_rows, new_vectors = embed_pending(model, group, per_segment, batch_size)
            rows, vectors, group = rows + new_rows, vectors + new_vectors, []
    if group:
        new_rows, new_vectors = embed_pending(model, group, per_segment, batch_size)
        rows, vectors = rows + new_rows, vectors + new_vectors
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, model.embedding_dim), np.float32)
    return FileEmbeddings(pd.DataFrame(rows), matrix.astype(np.float32),
                          pd.DataFrame(errors, columns=["path", "reason", "detail"]))
