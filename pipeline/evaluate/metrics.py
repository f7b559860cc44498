"""Scores of a probe's class scores against true labels: accuracy, macro mean average precision and micro F1.

Multi-label class scores are probabilities (every probe gives them for multi-label tasks), so F1 detects a class
where its probability reaches F1_THRESHOLD; mAP, which only ranks scores, would read logits the same way.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Fraction of rows whose highest-scoring class is the true class; labels (n,), scores (n, classes)."""
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def average_precision(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the step precision-recall curve of one class; tied scores form a single threshold."""
    order = np.argsort(-scores, kind="stable")
    hits, ranked = positive[order].astype(np.float64), scores[order]
    last_of_tie = np.r_[ranked[1:] != ranked[:-1], True]  # the threshold steps between distinct scores
    tp = np.cumsum(hits)[last_of_tie]
    seen = np.flatnonzero(last_of_tie) + 1.0
    recall_step = np.diff(np.r_[0.0, tp]) / tp[-1]
    return float(np.sum(recall_step * tp / seen))


def mean_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Macro mean of per-class average precision over classes with a positive row; labels (n, classes) 0/1."""
    present = np.flatnonzero(labels.sum(axis=0) > 0)
    if len(present) == 0:
        raise ValueError("mAP is undefined: no class has a positive example in these labels")
    return float(np.mean([average_precision(labels[:, c] > 0, scores[:, c]) for c in present]))


F1_THRESHOLD = 0.5  # probability at which a class counts as detected


def micro_f1(labels: np.ndarray, scores: np.ndarray) -> float:
    """F1 over every (row, class) cell: 2 TP / (2 TP + FP + FN), a class detected where its probability in
    `scores` (n, classes) reaches F1_THRESHOLD; labels (n, classes) 0/1. On a detection task's segments this is
    the segment-based F1 of the DCASE metrics."""
    truth, detected = labels > 0, scores >= F1_THRESHOLD
    cells = int(truth.sum() + detected.sum())
    if cells == 0:
        raise ValueError("micro F1 is undefined: no positive label and no detection in these rows")
    return float(2 * np.sum(truth & detected) / cells)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "map": mean_average_precision,
    "micro_f1": micro_f1,
}
