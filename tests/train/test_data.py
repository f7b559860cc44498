"""What the training loop reads: targets, sampling weights (balanced or uniform) and validation rows."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from torch.utils.data import DataLoader
from toy_teacher import ToyTeacher
from train_setup import CLASSES, BandTeacher, make_corpus, make_store, tiny_config

from pipeline.cluster.config import ClusterError
from pipeline.cluster.index import write_index
from pipeline.distributed import DistInfo
from pipeline.store import StoreError
from pipeline.train.data import PlanDataset, distill_data, epoch_plan, supervised_data, validation_rows
from pipeline.train.sampling import epoch_draws
from pipeline.train.targets import RamTargets
from pipeline.train.validate import _val_items

WINDOW = 8000


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 30-clip corpus (every 5th clip split=valid) and a band-teacher store."""
    root = tmp_path_factory.mktemp("train_data")
    corpus = make_corpus(root, n=30)
    return root, corpus, make_store(corpus, root / "band", BandTeacher())


def _index(folder, store, corpus, weights):
    clusters = np.arange(len(corpus)) % 3
    write_index(folder, corpus.manifest()["clip_id"].to_numpy(), clusters, np.zeros(len(corpus)), weights,
                {"store_fingerprint": store.fingerprint})
    return str(folder)


def test_uniform_weights_skip_validation_rows(setup):
    _, corpus, store = setup
    data = distill_data(tiny_config(), corpus, [store], WINDOW, None, None)
    split = corpus.manifest()["split"].to_numpy()
    assert np.array_equal(data.val_rows, np.flatnonzero(split == "valid"))
    assert np.all(data.weights[data.val_rows] == 0)
    assert np.allclose(data.weights[split == "train"], data.weights[split == "train"][0])
    assert isinstance(data.targets.raw, RamTargets) and data.targets.dim == store.dim
    assert data.meta["store_fingerprints"] == [store.fingerprint]
    assert data.meta["corpus_fingerprint"] == corpus.fingerprint and data.window_clip is None


def test_balanced_weights_come_from_the_cluster_index(setup, tmp_path):
    _, corpus, store = setup
    raw = 1.0 + np.arange(len(corpus)) % 3  # index weights 1, 2, 3, ...
    path = _index(tmp_path / "index", store, corpus, raw)
    data = distill_data(tiny_config(sampler="balanced"), corpus, [store], WINDOW, path)
    train = data.weights > 0
    assert np.array_equal(np.flatnonzero(~train), data.val_rows)
    ratio = data.weights[train] / raw[train]
    assert np.allclose(ratio, ratio[0])  # proportional to the index weights
    draws = epoch_draws(data.weights, 3000, 0, 0)
    assert not np.isin(draws, data.val_rows).any()


def test_balanced_sampler_refuses_a_foreign_or_missing_index(setup, tmp_path):
    root, corpus, store = setup
    other = make_store(corpus, root / "band2", BandTeacher(seed=7))
    path = _index(tmp_path / "index", other, corpus, np.ones(len(corpus)))
    with pytest.raises(ClusterError, match="built from store"):
        distill_data(tiny_config(sampler="balanced"), corpus, [store], WINDOW, path)
    with pytest.raises(ValueError, match="cluster index"):
        distill_data(tiny_config(sampler="balanced"), corpus, [store], WINDOW, None, None)
    with pytest.raises(ValueError, match="same teacher"):  # one head per teacher: two stores of one teacher clash
        distill_data(tiny_config(sampler="balanced"), corpus, [store, other], WINDOW, path)


def test_invalid_clips_get_no_weight(setup, tmp_path):
    _, corpus, _ = setup
    # one window per clip; every 3rd row of each batch of 8 is NaN -> those clips have no valid window
    nan_store = make_store(corpus, tmp_path / "nan", ToyTeacher(nan_every=3), window_seconds=2.0)
    valid = nan_store.array("clip_valid")[:]
    assert 0 < (~valid).sum() < len(valid)
    data = distill_data(tiny_config(), corpus, [nan_store], WINDOW, None, None)
    assert np.all(data.weights[~valid] == 0)
    assert np.all(valid[data.val_rows])


def test_window_targets_carry_the_window_index(setup):
    _, corpus, store = setup
    data = distill_data(tiny_config(target="window"), corpus, [store], WINDOW, None, None)
    assert np.array_equal(data.window_clip, store.array("window_clip")[:])
    assert np.array_equal(data.window_start, store.array("window_start")[:])
    assert data.targets.get(np.arange(len(data.window_clip))).shape == (len(data.window_clip), store.dim)


def test_window_plans_and_validation_use_only_valid_windows(setup, tmp_path):
    _, corpus, _ = setup
    store = make_store(corpus, tmp_path / "nan", ToyTeacher(nan_every=3))  # 0.5 s windows, some NaN
    window_valid = store.array("window_valid")[:]
    assert 0 < (~window_valid).sum() < len(window_valid)
    cfg = tiny_config(target="window", epoch_size=2000)
    data = distill_data(cfg, corpus, [store], WINDOW, None, None)
    plan = epoch_plan(cfg, data, 0, DistInfo())
    assert window_valid[plan["targets"]].all()
    assert np.array_equal(data.window_clip[plan["targets"]], plan["rows"])
    assert np.array_equal(data.window_start[plan["targets"]], plan["starts"])
    starts, rows = _val_items(data, data.val_rows)
    assert window_valid[rows].all() and np.array_equal(data.window_clip[rows], data.val_rows)
    assert np.array_equal(data.window_start[rows], starts)


def test_store_of_another_corpus_is_refused(setup, tmp_path):
    _, _, store = setup
    other = make_corpus(tmp_path, n=8, seed=5)
    with pytest.raises(StoreError, match="built from corpus"):
        distill_data(tiny_config(), other, [store], WINDOW, None, None)


def test_supervised_data_reads_multi_hot_labels(setup):
    _, corpus, _ = setup
    data = supervised_data(tiny_config(objective="supervised"), corpus, WINDOW)
    labels = corpus.manifest()["labels"].to_numpy()
    assert data.targets.classes == sorted(CLASSES)
    table = data.targets.get(np.arange(len(corpus))).numpy()
    assert np.array_equal(table.sum(axis=1), np.ones(len(corpus)))
    assert [data.targets.classes[i] for i in table.argmax(axis=1)] == list(labels)
    assert np.all(data.weights[data.val_rows] == 0)
    with pytest.raises(ValueError, match="not in the corpus manifest"):
        supervised_data(tiny_config(objective="supervised", label_column="genre"), corpus, WINDOW)


def test_hash_validation_split_is_stable_and_near_the_fraction():
    manifest = pd.DataFrame({"clip_id": [f"clip{i}" for i in range(4000)]})
    rows = validation_rows(manifest, 0.1)
    assert 300 < len(rows) < 500
    shuffled = manifest.sample(frac=1.0, random_state=0).reset_index(drop=True)
    picked = set(shuffled["clip_id"].iloc[validation_rows(shuffled, 0.1)])
    assert picked == set(manifest["clip_id"].iloc[rows])  # chosen by clip id, not by row position
    assert len(validation_rows(manifest, 0.0)) == 0


def test_init_meta_hashes_the_start_checkpoint(tmp_path):
    import hashlib

    import pytest

    from pipeline.train.config import TrainConfig
    from pipeline.train.data import init_meta

    assert init_meta(TrainConfig()) == {}
    path = tmp_path / "start.pt"
    path.write_bytes(b"weights")
    assert init_meta(TrainConfig(init=str(path))) == {"init_sha256": hashlib.sha256(b"weights").hexdigest()}
    with pytest.raises(ValueError, match="train.init"):
        init_meta(TrainConfig(init=str(tmp_path / "missing.pt")))


class _WhereRead(PlanDataset):
    """Also reports which process read the item and whether the corpus handle it used was opened there."""

    def __getitem__(self, i: int):
        wave, idx = super().__getitem__(i)
        return wave, idx, os.getpid(), self.corpus._pid == os.getpid()


def test_plan_dataset_two_workers_read_through_their_own_handle(tiny_corpus):
    n = len(tiny_corpus)
    rows, starts = np.arange(n), np.zeros(n, dtype=np.int64)
    window = int(tiny_corpus.lengths.max())
    direct = [tiny_corpus.segment(r, 0, window) for r in rows]  # opens a handle in this process first
    pids, seen = set(), []
    for wave, idx, pid, own_handle in DataLoader(_WhereRead(tiny_corpus, {"rows": rows, "starts": starts}, window), batch_size=None,
                                                 num_workers=2):
        assert own_handle
        pids.add(pid)
        seen.append(int(idx))
        np.testing.assert_array_equal(wave.numpy(), direct[idx])
    assert seen == list(range(n))
    assert len(pids) == 2 and os.getpid() not in pids
