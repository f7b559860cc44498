import numpy as np

from pipeline.evaluate.rank import effective_rank, top_share


def test_isotropic_rows_use_every_direction():
    x = np.random.default_rng(0).standard_normal((4000, 16))
    assert 15.0 < effective_rank(x) <= 16.0
    assert top_share(x) < 0.1


def test_collapsed_rows_have_rank_one():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 1)) * rng.standard_normal((1, 32)) + 5.0  # one direction plus an offset
    assert abs(effective_rank(x) - 1.0) < 1e-6
    assert abs(top_share(x) - 1.0) < 1e-9


def test_two_equal_directions_and_degenerate_inputs():
    x = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
    assert abs(effective_rank(x) - 2.0) < 1e-9
    assert effective_rank(np.ones((10, 3))) == 0.0
    assert effective_rank(np.full((1, 3), np.nan)) == 0.0
    assert np.isnan(top_share(np.ones((4, 2))))


def test_non_finite_rows_are_left_out():
    x = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1], [np.nan, 1]])
    assert abs(effective_rank(x) - 2.0) < 1e-9
