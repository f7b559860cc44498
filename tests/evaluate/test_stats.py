"""mean_ci against a hand-computed t-interval."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluate.stats import mean_ci


def test_t_interval_hand_example():
    # mean 0.9, sample std 0.1, n = 3, t_{0.975, 2} = 4.302652729911275 -> 4.3027 * 0.1 / sqrt(3)
    mean, half = mean_ci([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9)
    assert half == pytest.approx(4.302652729911275 * 0.1 / np.sqrt(3), rel=1e-9)
    assert half == pytest.approx(0.248414, abs=1e-6)


def test_shapes_single_score_and_bad_input():
    assert mean_ci(np.array([[0.8, 0.9], [1.0, 0.9]]))[0] == pytest.approx(0.9)
    assert mean_ci([0.7]) == (0.7, 0.0)
    assert mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.0)
    assert mean_ci([0.8, 0.9, 1.0], confidence=0.99)[1] > mean_ci([0.8, 0.9, 1.0])[1]
    for bad in ([], [0.5, float("nan")]):
        with pytest.raises(ValueError):
            mean_ci(bad)
