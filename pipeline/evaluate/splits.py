"""Train/test splits of a task by its protocol, and the inner train/validation split used to tune a probe.

Single-label tasks are stratified by class; multi-label tasks are not (plain or grouped k-fold).
The same seed gives the same splits for every model, so models are compared on identical folds.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.model_selection import (GroupKFold, GroupShuffleSplit, KFold, ShuffleSplit, StratifiedGroupKFold,
                                     StratifiedKFold, StratifiedShuffleSplit)

from pipeline.evaluate.tasks import Task

Split = tuple[np.ndarray, np.ndarray]  # (train rows, test rows)


def given_folds(task: Task, seed: int) -> list[Split]:
    """Leave-one-fold-out over the task's given folds (rows with fold -1 are always train)."""
    rows = np.arange(task.n_clips)
    tests = np.unique(task.folds[task.folds >= 0])
    return [(rows[task.folds != f], rows[task.folds == f]) for f in tests]


def kfold(task: Task, seed: int) -> list[Split]:
    """Shuffled k-fold, stratified by class for single-label tasks."""
    rows = np.arange(task.n_clips)
    if task.multilabel:
        return list(KFold(task.n_folds, shuffle=True, random_state=seed).split(rows))
    return list(StratifiedKFold(task.n_folds, shuffle=True, random_state=seed).split(rows, task.labels))


def group_kfold(task: Task, seed: int) -> list[Split]:
    """Shuffled k-fold that keeps every group on one side; stratified by class for single-label tasks."""
    rows = np.arange(task.n_clips)
    if task.multilabel:
        splitter = GroupKFold(task.n_folds, shuffle=True, random_state=seed)
        return list(splitter.split(rows, groups=task.groups))
    splitter = StratifiedGroupKFold(task.n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(rows, task.labels, groups=task.groups))


PROTOCOLS: dict[str, Callable[[Task, int], list[Split]]] = {
    "folds": given_folds,
    "kfold": kfold,
    "group_kfold": group_kfold,
}


def task_splits(task: Task, seed: int = 0) -> list[Split]:
    """(train rows, test rows) for every fold of the task's protocol; `seed` shuffles k-fold assignments."""
    return PROTOCOLS[task.protocol](task, seed)


def inner_split(labels: np.ndarray, groups: np.ndarray | None, fraction: float, seed: int) -> Split:
    """Split a training part into (fit, validation) positions: grouped if `groups`, else stratified when possible."""
    rows = np.arange(len(labels))
    if groups is not None and len(np.unique(groups)) >= 2:
        return next(GroupShuffleSplit(1, test_size=fraction, random_state=seed).split(rows, groups=groups))
    if labels.ndim == 1 and _stratifiable(labels, fraction):
        return next(StratifiedShuffleSplit(1, test_size=fraction, random_state=seed).split(rows, labels))
    return next(ShuffleSplit(1, test_size=fraction, random_state=seed).split(rows))


def _stratifiable(labels: np.ndarray, fraction: float) -> bool:
    """Every class has 2+ rows and both sides can hold one row of each class."""
    counts = np.unique(labels, return_counts=True)[1]
    n_val = int(np.ceil(fraction * len(labels)))
    return counts.min() >= 2 and len(counts) <= n_val <= len(labels) - len(counts)
