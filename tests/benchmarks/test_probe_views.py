"""benchmarks.probe_views: the parts of a summary student's embedding, and probes on a share of the training rows."""
from __future__ import annotations

import numpy as np

import torch

from benchmarks.probe_views import ClipStats, fold_scores, views
from pipeline.evaluate.embedders import LogMelStats
from pipeline.evaluate.probes import ProbeConfig
from pipeline.evaluate.tasks import Task


def task(labels: np.ndarray) -> Task:
    paths = np.array([f"/x/{i}.wav" for i in range(len(labels))])
    return Task("syn", "memory", "accuracy", "kfold", 5, tuple(map(str, range(int(labels.max()) + 1))), paths, paths,
                labels, None, None, "f")


def test_views_split_the_learnt_channels_from_the_summary():
    student, baseline, clip = np.arange(12.0).reshape(2, 6), np.full((2, 3), -1.0), np.full((2, 3), -2.0)
    out = views(student, baseline, learnt=2, clip=clip)
    np.testing.assert_array_equal(out["learnt"], student[:, :2])
    np.testing.assert_array_equal(out["summary"], student[:, 2:])
    np.testing.assert_array_equal(out["learnt + baseline statistics"], np.hstack([student[:, :2], baseline]))
    np.testing.assert_array_equal(out["learnt + clip statistics"], np.hstack([student[:, :2], clip]))


def test_clip_statistics_leave_out_digital_silence_and_padding():
    """Inside the real samples, frames of digital silence are left out; without any, it is the baseline's rule."""
    stats, base = ClipStats(32000, 64), LogMelStats(32000, 64)
    rng = np.random.default_rng(0)
    tone = torch.from_numpy(rng.normal(0, 0.1, 32000).astype(np.float32))
    quiet = torch.cat([torch.zeros(32000), tone, torch.zeros(16000)])[None]  # 1 s silence, 1 s noise, 0.5 s pad
    length = torch.tensor([64000])
    with torch.no_grad():
        live, plain = stats.embed_batch(quiet, length), base.embed_batch(quiet, length)
        alone = base.embed_batch(tone[None], torch.tensor([32000]))
        noisy = torch.from_numpy(rng.normal(0, 0.1, 48000).astype(np.float32))[None]
        same = stats.embed_batch(noisy, torch.tensor([40000])), base.embed_batch(noisy, torch.tensor([40000]))
    assert (live[0, :64] - alone[0, :64]).abs().max() < 0.5  # the band means of the noise, silence left out
    assert (live[0, :64] - plain[0, :64]).abs().min() > 1.0  # the baseline's means fall towards the floor
    torch.testing.assert_close(*same)


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
