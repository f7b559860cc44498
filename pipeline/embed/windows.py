"""Which rows a store has: the window index of a corpus (and its views), the dataset that renders a row at the
teacher's rate, and the batches that walk row ranges chunk by chunk."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from pipeline.audio.decode import resample
from pipeline.audio.views import Renderer
from pipeline.audio.windows import window_starts
from pipeline.corpus import Corpus
from pipeline.store import StoreLayout


def window_index(lengths: np.ndarray, window: int, hop: int, last: str) -> dict[str, np.ndarray]:
    """Row-aligned window arrays (clip, start, real length) for all clips, in corpus order."""
    clips, starts, reals = [], [], []
    for row, n in enumerate(lengths):
        s = window_starts(int(n), window, hop, last)
        clips.append(np.full(len(s), row, dtype=np.int64))
        starts.append(s)
        reals.append(np.clip(int(n) - s, 0, window))
    return {"window_clip": np.concatenate(clips), "window_start": np.concatenate(starts),
            "window_length": np.concatenate(reals).astype(np.int64)}


def with_views(index: dict[str, np.ndarray], views: dict[str, np.ndarray], lengths: np.ndarray,
               window: int) -> dict[str, np.ndarray]:
    """The window index with each clip's views after its plain windows (rows stay sorted by clip), plus the
    row-aligned view table: window_view (-1: plain window), view_partner (-1: no mix), view_params."""
    n_plain = len(index["window_clip"])
    reals = np.clip(lengths[views["clip"]] - views["start"], 0, window).astype(np.int64)
    merged = {"window_clip": np.concatenate([index["window_clip"], views["clip"]]),
              "window_start": np.concatenate([index["window_start"], views["start"]]),
              "window_length": np.concatenate([index["window_length"], reals]),
              "window_view": np.concatenate([np.full(n_plain, -1, np.int64), views["view"]]),
              "view_partner": np.concatenate([np.full(n_plain, -1, np.int64), views["partner"]]),
              "view_params": np.concatenate([np.zeros((n_plain, views["params"].shape[1])), views["params"]])}
    order = np.lexsort((np.concatenate([np.arange(n_plain), n_plain + views["view"]]), merged["window_clip"]))
    return {k: v[order] for k, v in merged.items()}


class WindowDataset(Dataset):
    """Item = one window read at the corpus rate and resampled to the teacher rate (runs in workers)."""

    def __init__(self, corpus: Corpus, index: dict[str, np.ndarray], window: int, teacher_rate: int):
        self.corpus, self.index, self.window = corpus, index, window
        self.render = Renderer(corpus, index, window)  # a plain window, or a view rebuilt from its parameters
        self.rate = teacher_rate
        self.out_len = int(round(window * teacher_rate / corpus.sample_rate))

    def __len__(self) -> int:
        return len(self.index["window_clip"])

    def __getitem__(self, i: int):
        wave = resample(self.render(i), self.corpus.sample_rate, self.rate)
        out = np.zeros(self.out_len, dtype=np.float32)
        out[: min(len(wave), self.out_len)] = wave[: self.out_len]
        real = int(round(int(self.index["window_length"][i]) * self.rate / self.corpus.sample_rate))
        return torch.from_numpy(out), min(max(real, 1), self.out_len), i


def plan_batches(layout: StoreLayout, ranges: list[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Batches over row ranges that never cross a chunk boundary, laid out from each chunk's first row: a chunk's bits
    never depend on its neighbours, and a range resumed after a commit (always made between batches) starts where an
    unbroken run with the same batch size starts a batch."""
    batches = []
    for lo, hi in ranges:
        for chunk in range(lo - lo % layout.chunk_rows, hi, layout.chunk_rows):
            end = min(chunk + layout.chunk_rows, hi)
            batches += [list(range(s, min(s + batch_size, end))) for s in range(max(lo, chunk), end, batch_size)]
    return batches
