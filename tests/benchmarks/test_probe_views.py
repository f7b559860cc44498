"""benchmarks.probe_views: the parts of a summary student's embedding, and probes on a share of the training rows."""
from __future__ import annotations

import numpy as np

from benchmarks.probe_views import fold_scores, views
from pipeline.evaluate.probes import ProbeConfig
from pipeline.evaluate.tasks import Task


def task(labels: np.ndarray) -> Task:
    paths = np.array([f"/x/{i}.wav" for i in range(len(labels))])
    return Task("syn", "memory", "accuracy", "kfold", 5, tuple(map(str, range(int(labels.max()) + 1))), paths, paths,
                labels, None, None, "f")


def test_views_split_the_learnt_channels_from_the_summary():
    student, baseline = np.arange(12.0).reshape(2, 6), np.full((2, 3), -1.0)
    out = views(student, baseline, learnt=2)
    np.testing.assert_array_equal(out["learnt"], student[:, :2])
    np.testing.assert_array_equal(out["summary"], student[:, 2:])
    np.testing.assert_array_equal(out["learnt + baseline statistics"], np.hstack([student[:, :2], baseline]))


def test_fewer_training_rows_score_lower_on_a_hard_task_and_the_draw_is_seeded():
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 3
    x = rng.normal(0, 1, (300, 20))
    x[:, :3] += np.eye(3)[labels] * 0.6  # a weak signal in 3 of 20 noisy dimensions
    cfg = ProbeConfig(seeds=(0, 1), jobs=1, c_grid=(0.1,))
    full, few = fold_scores(x, task(labels), cfg), fold_scores(x, task(labels), cfg, fraction=0.1)
    assert full.shape == few.shape == (10,)
    assert few.mean() < full.mean()
    np.testing.assert_array_equal(few, fold_scores(x, task(labels), cfg, fraction=0.1))
