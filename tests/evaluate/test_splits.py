"""Split protocols: every row tested exactly once, groups never straddle train and test, inner splits too."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluate.splits import inner_split, task_splits
from pipeline.evaluate.tasks import Task


def synthetic_task(protocol: str, n: int = 120, n_classes: int = 4, n_groups: int = 24, multilabel: bool = False,
                   folds: np.ndarray | None = None) -> Task:
    """A task of fake paths whose labels and groups are drawn so that groups mix classes."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, n_classes, n)
    labels = np.eye(n_classes, dtype=np.uint8)[codes] if multilabel else codes
    groups = np.array([f"g{i}" for i in rng.integers(0, n_groups, n)])
    paths = np.array([f"/x/{i}.wav" for i in range(n)])
    return Task("synthetic", "memory", "map" if multilabel else "accuracy", protocol, 5,
                tuple(f"c{i}" for i in range(n_classes)), paths, paths, labels, groups, folds, "f")


def assert_partition(splits: list, n: int) -> None:
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested.tolist()) == list(range(n))  # every row is tested exactly once
    for train, test in splits:
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == n


@pytest.mark.parametrize("multilabel", [False, True])
def test_group_kfold_never_leaks_a_group(multilabel: bool):
    task = synthetic_task("group_kfold", multilabel=multilabel)
    for seed in (0, 1):
        splits = task_splits(task, seed)
        assert len(splits) == 5
        assert_partition(splits, task.n_clips)
        for train, test in splits:
            assert set(task.groups[train]).isdisjoint(task.groups[test])


def test_group_kfold_seed_changes_assignment_and_is_reproducible():
    task = synthetic_task("group_kfold")
    first = [test.tolist() for _, test in task_splits(task, 0)]
    assert first == [test.tolist() for _, test in task_splits(task, 0)]
    assert first != [test.tolist() for _, test in task_splits(task, 1)]


def test_kfold_is_stratified():
    task = synthetic_task("kfold")
    splits = task_splits(task, 3)
    assert_partition(splits, task.n_clips)
    totals = np.bincount(task.labels)
    for _, test in splits:
        assert np.all(np.abs(np.bincount(task.labels[test], minlength=4) - totals / 5) <= 1)


def test_given_folds_and_single_split():
    folds = np.arange(120) % 3
    splits = task_splits(synthetic_task("folds", folds=folds), 0)
    assert [sorted(set(folds[test])) for _, test in splits] == [[0], [1], [2]]
    assert_partition(splits, 120)
    split = np.where(np.arange(120) < 30, 0, -1)  # rows with fold -1 are always train
    (train, test), = task_splits(synthetic_task("folds", folds=split), 0)
    assert test.tolist() == list(range(30)) and train.tolist() == list(range(30, 120))


def test_inner_split_grouped_and_stratified():
    task = synthetic_task("group_kfold")
    fit, val = inner_split(task.labels, task.groups, 0.2, seed=0)
    assert set(task.groups[fit]).isdisjoint(task.groups[val])
    assert sorted(np.r_[fit, val].tolist()) == list(range(task.n_clips))
    fit, val = inner_split(task.labels, None, 0.25, seed=0)
    assert len(val) == 30 and set(task.labels[val]) == set(task.labels)
    lonely = np.array([0, 0, 0, 1, 1, 1, 2])  # class 2 has one row: falls back to a plain shuffle split
    fit, val = inner_split(lonely, None, 0.3, seed=0)
    assert sorted(np.r_[fit, val].tolist()) == list(range(7))
