"""torch Datasets over the HDF5 corpus (handles opened lazily in each DataLoader worker)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from pipeline.corpus import Corpus


class ClipDataset(Dataset):
    """Item i -> (waveform float32 tensor, corpus row) for `rows[i]`."""

    def __init__(self, corpus: Corpus, rows: Sequence[int] | None = None):
        self.corpus = corpus
        self.rows = np.arange(len(corpus)) if rows is None else np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        row = int(self.rows[i])
        return torch.from_numpy(self.corpus.clip(row)), row


class SegmentDataset(Dataset):
    """Item i -> (fixed-length segment tensor, real length, i) for (row, start) pairs."""

    def __init__(self, corpus: Corpus, rows: Sequence[int], starts: Sequence[int], n_samples: int):
        self.corpus = corpus
        self.rows = np.asarray(rows, dtype=np.int64)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.n = int(n_samples)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        row, start = int(self.rows[i]), int(self.starts[i])
        seg = self.corpus.segment(row, start, self.n)
        real = max(0, min(self.n, int(self.corpus.lengths[row]) - start))
        return torch.from_numpy(seg), real, i
