"""Datasets over the corpus: worker processes read the same data through their own HDF5 handle."""
from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import DataLoader

from pipeline.dataset import ClipDataset, SegmentDataset


class _WhereRead(ClipDataset):
    """Also reports which process read the item and whether the handle it used was opened there."""

    def __getitem__(self, i: int):
        wave, row = super().__getitem__(i)
        return wave, row, os.getpid(), self.corpus._pid == os.getpid()


def test_clip_dataset_two_workers_match_direct_reads(tiny_corpus):
    direct = [tiny_corpus.clip(r) for r in range(len(tiny_corpus))]  # opens a handle in this process first
    loader = DataLoader(_WhereRead(tiny_corpus), batch_size=None, num_workers=2)
    pids = set()
    seen = []
    for wave, row, pid, own_handle in loader:
        assert own_handle
        pids.add(pid)
        seen.append(row)
        np.testing.assert_array_equal(wave.numpy(), direct[row])
    assert seen == list(range(len(tiny_corpus)))
    assert len(pids) == 2 and os.getpid() not in pids


def test_clip_dataset_row_subset(tiny_corpus):
    ds = ClipDataset(tiny_corpus, rows=[5, 0, 5])
    assert len(ds) == 3
    wave, row = ds[0]
    assert row == 5 and wave.dtype == torch.float32
    np.testing.assert_array_equal(wave.numpy(), tiny_corpus.clip(5))


def test_segment_dataset_pads_and_reports_real_length(tiny_corpus):
    n0 = int(tiny_corpus.lengths[0])
    ds = SegmentDataset(tiny_corpus, rows=[0, 0, 0], starts=[0, n0 - 100, n0 + 50], n_samples=400)
    segs = [ds[i] for i in range(3)]
    assert [s[1] for s in segs] == [400, 100, 0]
    assert [s[2] for s in segs] == [0, 1, 2]
    whole = tiny_corpus.clip(0)
    np.testing.assert_array_equal(segs[0][0].numpy(), whole[:400])
    np.testing.assert_array_equal(segs[1][0].numpy()[:100], whole[-100:])
    assert not segs[1][0][100:].any() and not segs[2][0].any()
    batch = next(iter(DataLoader(ds, batch_size=3, num_workers=0)))
    assert batch[0].shape == (3, 400)
