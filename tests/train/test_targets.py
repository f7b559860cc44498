"""Teacher targets: in-RAM and chunked readers agree, chunks are read whole, several teachers sit side by side."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr
from toy_teacher import ToyTeacher
from train_setup import BandTeacher, make_corpus, make_store

from pipeline.store import StoreError
from pipeline.train.sampling import block_order, epoch_draws
from pipeline.train.targets import ChunkTargets, RamTargets, TeacherTargets, load_targets, normalise_targets


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """One corpus, two teachers' stores with small chunks (8 rows) so reads span many chunks."""
    root = tmp_path_factory.mktemp("targets")
    corpus = make_corpus(root, n=20)
    band = make_store(corpus, root / "band", BandTeacher(dim=12))
    toy = make_store(corpus, root / "toy", ToyTeacher(dim=6), dtype="float16")
    return corpus, band, toy


@pytest.fixture
def zarr_reads(monkeypatch):
    """Record (array name, selection) of every zarr Array read."""
    reads = []
    original = zarr.Array.__getitem__

    def counting(self, selection):
        reads.append((self.name, selection))
        return original(self, selection)
    monkeypatch.setattr(zarr.Array, "__getitem__", counting)
    return reads


@pytest.mark.parametrize("level", ["clip", "window"])
def test_ram_and_chunk_targets_give_identical_rows(stores, level):
    _, band, _ = stores
    ram = load_targets([band], level, memory_budget_bytes=1 << 30)
    chunked = load_targets([band], level, memory_budget_bytes=0)
    assert isinstance(ram, RamTargets) and isinstance(chunked, ChunkTargets)
    n = band.array(level).shape[0]
    rows = np.random.default_rng(0).integers(0, n, size=3 * n)
    assert torch.equal(ram.get(rows), chunked.get(rows))
    assert np.array_equal(ram.get(rows).numpy(), band.array(level)[:][rows].astype(np.float32))
    assert ram.dim == chunked.dim == 12
    assert np.array_equal(ram.valid, chunked.valid)


def test_chunk_targets_read_whole_chunks_once_per_block(stores, zarr_reads):
    _, band, _ = stores
    targets = load_targets([band], "window", memory_budget_bytes=0, cache_chunks=4)
    n, chunk = band.array("window").shape[0], targets.chunk_rows
    draws = epoch_draws(np.ones(n), 4 * n, seed=0, epoch=0)
    plan = block_order(draws, chunk, 4, np.random.default_rng(0))
    zarr_reads.clear()
    for lo in range(0, len(plan), 16):  # batches of 16, as the loop asks for them
        targets.get(plan[lo: lo + 16])
    reads = [sel for name, sel in zarr_reads if name.endswith("/window")]
    assert all(isinstance(s, slice) and s.start % chunk == 0 and s.stop - s.start == chunk for s in reads)
    assert len(reads) == len(np.unique(plan // chunk))  # each chunk read exactly once in the epoch
    assert len(reads) < len(plan) / 10  # never a read per row


def test_several_teachers_give_one_part_each_side_by_side(stores):
    _, band, toy = stores
    for budget in (1 << 30, 0):
        targets = load_targets([band, toy], "clip", memory_budget_bytes=budget)
        assert isinstance(targets, TeacherTargets) and targets.dims == [12, 6] and targets.dim == 18
        rows = np.arange(band.array("clip").shape[0])
        got = targets.get(rows).numpy()  # (clips, 12 + 6): each teacher's raw rows, one head's target each
        for block, store in ((got[:, :12], band), (got[:, 12:], toy)):
            assert np.array_equal(block, store.array("clip")[:].astype(np.float32))
        assert np.array_equal(targets.valid, band.read("clip_valid") & toy.read("clip_valid"))


def test_each_teacher_is_normalised_on_its_own(stores):
    _, band, toy = stores
    targets = load_targets([band, toy], "clip")
    rows = np.arange(band.array("clip").shape[0])
    normed = normalise_targets(targets, rows, "standardize")
    for part, raw in zip(normed.parts, targets.parts):
        x = part.get(rows).numpy()
        assert np.allclose(x.mean(axis=0), 0, atol=1e-4) and part.raw is raw
    assert torch.equal(normed.get(rows), torch.cat([p.get(rows) for p in normed.parts], dim=1))


def test_stores_with_different_rows_are_refused(stores, tmp_path, monkeypatch):
    corpus, band, _ = stores
    other = make_store(corpus, tmp_path / "wide", BandTeacher(dim=12, seed=1), window_seconds=0.25)
    with pytest.raises(StoreError, match="disagree"):
        load_targets([band, other], "window")
    shifted = make_store(corpus, tmp_path / "shifted", BandTeacher(dim=12, seed=1))
    read = shifted.read  # same row count, windows starting a sample later (as other window settings would cut)
    monkeypatch.setattr(shifted, "read", lambda name, *sel: read(name, *sel) + (name == "window_start"))
    with pytest.raises(StoreError, match="other windows"):
        load_targets([band, shifted], "window")
    with pytest.raises(ValueError, match="clip' or 'window"):
        load_targets([band], "frame")
