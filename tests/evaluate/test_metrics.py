"""Accuracy, macro mAP and micro F1 against scikit-learn on hand-made cases (ties and absent classes included)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score

from pipeline.evaluate.metrics import accuracy, average_precision, mean_average_precision, micro_f1


def test_map_matches_sklearn_on_hand_case():
    labels = np.array([[1, 0, 1, 0],
                       [0, 1, 1, 0],
                       [1, 1, 0, 0],
                       [0, 0, 1, 0],
                       [1, 0, 0, 0],
                       [0, 1, 0, 0]])  # class 3 never occurs: left out of the mean
    scores = np.array([[0.9, 0.1, 0.8, 0.3],
                       [0.2, 0.7, 0.8, 0.1],
                       [0.6, 0.4, 0.3, 0.9],
                       [0.6, 0.3, 0.5, 0.2],
                       [0.1, 0.2, 0.4, 0.5],
                       [0.3, 0.4, 0.1, 0.6]])  # ties inside classes 0, 1 and 2
    expected = np.mean([average_precision_score(labels[:, c], scores[:, c]) for c in range(3)])
    assert mean_average_precision(labels, scores) == pytest.approx(expected, abs=1e-12)
    # class 0 by hand: ranks 0.9(+) 0.6(+,-) tied 0.3(-) 0.2(-) 0.1(+) -> AP = (1 + 2/3 + 3/6) / 3
    assert average_precision(labels[:, 0] > 0, scores[:, 0]) == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)


def test_map_random_cases_match_sklearn():
    rng = np.random.default_rng(1)
    for _ in range(20):
        labels = (rng.random((30, 5)) < 0.3).astype(int)
        labels[0] = 1
        scores = np.round(rng.random((30, 5)), 1)  # coarse scores force many ties
        expected = np.mean([average_precision_score(labels[:, c], scores[:, c]) for c in range(5)])
        assert mean_average_precision(labels, scores) == pytest.approx(expected, abs=1e-12)


def test_accuracy_and_empty_map():
    scores = np.array([[0.9, 0.1, 0], [0.2, 0.3, 0.5], [0.6, 0.4, 0]])
    assert accuracy(np.array([0, 2, 1]), scores) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="no class"):
        mean_average_precision(np.zeros((3, 2)), np.ones((3, 2)))


def test_micro_f1_hand_case_and_sklearn():
    labels = np.array([[1, 0], [0, 1], [1, 1]])
    scores = np.array([[0.9, 0.2], [0.6, 0.4], [0.1, 0.7]])  # detected: [1, 0], [1, 0], [0, 1]
    assert micro_f1(labels, scores) == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))  # TP 2, FP 1, FN 2
    assert micro_f1(labels, np.where(labels > 0, 0.5, 0.49)) == 1.0  # a probability of 0.5 detects
    rng = np.random.default_rng(0)
    for _ in range(20):
        labels, scores = (rng.random((30, 4)) < 0.3).astype(int), rng.random((30, 4))
        assert micro_f1(labels, scores) == pytest.approx(f1_score(labels, scores >= 0.5, average="micro"))
    with pytest.raises(ValueError, match="undefined"):
        micro_f1(np.zeros((3, 2)), np.zeros((3, 2)))
