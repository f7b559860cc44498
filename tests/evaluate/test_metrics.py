"""Accuracy and macro mAP against scikit-learn on hand-made cases (ties and absent classes included)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from pipeline.evaluate.metrics import accuracy, average_precision, mean_average_precision


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
