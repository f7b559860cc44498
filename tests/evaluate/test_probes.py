"""Probe protocol on synthetic embeddings: separable -> high score, unrelated labels -> chance, no test peeking."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.config import ConfigError, parse
from pipeline.evaluate import probes
from pipeline.evaluate.probes import LogisticProbe, ProbeConfig, evaluate_probe, probe_fold
from pipeline.evaluate.splits import task_splits
from pipeline.evaluate.tasks import Task

N, DIM, CLASSES = 200, 16, 4


def make_task(labels: np.ndarray, protocol: str = "kfold", groups: np.ndarray | None = None,
              metric: str | None = None) -> Task:
    paths = np.array([f"/x/{i}.wav" for i in range(len(labels))])
    metric = metric or ("map" if labels.ndim == 2 else "accuracy")
    n_classes = labels.shape[1] if labels.ndim == 2 else int(labels.max()) + 1
    return Task("syn", "memory", metric, protocol, 5, tuple(map(str, range(n_classes))), paths, paths,
                labels, groups, None, "f")


def clusters(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, DIM) embeddings of CLASSES well-separated Gaussian clusters, and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(N) % CLASSES
    centres = rng.normal(0, 3, (CLASSES, DIM))
    return centres[labels] + rng.normal(0, 1, (N, DIM)), labels


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize("kind", ["linear", "torch_linear", "mlp"])
def test_separable_vs_unrelated_labels(kind: str):
    x, labels = clusters()
    cfg = ProbeConfig(probe=kind, seeds=(0, 1), learning_rate=1e-2)
    good = evaluate_probe(x, make_task(labels), cfg)
    assert good.scores.shape == (2, 5) and good.n_invalid == 0
    assert good.scores.min() > 0.95
    shuffled = np.random.default_rng(1).permutation(labels)  # labels no longer depend on the embedding
    chance = evaluate_probe(x, make_task(shuffled), cfg)
    mean, half = chance.summary()
    assert mean < 0.4 and half > 0  # chance is 0.25


def test_multilabel_map():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(N, DIM))
    hot = (x[:, :3] > 0.3).astype(np.uint8)  # each class is one coordinate above a threshold
    good = evaluate_probe(x, make_task(hot), ProbeConfig())
    assert good.metric == "map" and good.scores.min() > 0.9
    chance = evaluate_probe(x, make_task(rng.permutation(hot)), ProbeConfig())
    assert chance.summary()[0] < 0.6  # prevalence is about 0.38


@pytest.mark.parametrize("kind", ["linear", "torch_linear"])
def test_segment_micro_f1_separable_vs_shuffled(kind: str):
    """Segments of 20 clips (10 each): classes that sound where one coordinate is high are detected, classes
    reshuffled across the segments are not; folds keep every clip's segments together."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(N, DIM))
    hot = (x[:, :3] > 0.3).astype(np.uint8)
    clips = np.repeat([f"clip{i}" for i in range(20)], N // 20)
    cfg = ProbeConfig(probe=kind, learning_rate=3e-2)
    good = evaluate_probe(x, make_task(hot, "group_kfold", clips, "micro_f1"), cfg)
    assert good.metric == "micro_f1" and good.summary()[0] > 0.85 and good.scores.min() > 0.75
    chance = evaluate_probe(x, make_task(rng.permutation(hot), "group_kfold", clips, "micro_f1"), cfg)
    assert chance.summary()[0] < 0.55  # about 0.38 of the cells are positive
    for train, test in task_splits(make_task(hot, "group_kfold", clips, "micro_f1"), 0):
        assert set(clips[train]).isdisjoint(clips[test])


def test_torch_probes_give_probabilities_for_multilabel_tasks():
    x, labels = clusters()
    hot = np.eye(CLASSES, dtype=np.uint8)[labels]
    probe = probes.TorchProbe(ProbeConfig(epochs=5), "micro_f1", CLASSES, multilabel=True)
    scores = probe.fit(x[:150], hot[:150], x[150:], hot[150:], seed=0).scores(x)
    assert scores.min() >= 0 and scores.max() <= 1 and scores.shape == (N, CLASSES)


def test_invalid_rows_are_scored_not_dropped():
    x, labels = clusters()
    x[:10] = np.nan
    result = evaluate_probe(x, make_task(labels), ProbeConfig())
    assert result.n_invalid == 10
    # 10 of 200 rows carry no information: at most those (plus the odd error) are wrong
    assert 0.9 < result.summary()[0] < 1.0


def test_grouped_protocol_separable():
    x, labels = clusters(3)
    groups = np.array([f"g{i % 40}" for i in range(N)])
    result = evaluate_probe(x, make_task(labels, "group_kfold", groups), ProbeConfig())
    assert result.summary()[0] > 0.95


class RecordingProbe(LogisticProbe):
    """A logistic probe that remembers the rows it was given (row ids ride in the last feature)."""

    seen: list[np.ndarray] = []

    def fit(self, x_fit, y_fit, x_val, y_val, seed):
        RecordingProbe.seen.append(np.r_[x_fit[:, -1], x_val[:, -1]])
        return super().fit(x_fit, y_fit, x_val, y_val, seed)


def test_tuning_never_sees_test_rows(monkeypatch):
    x, labels = clusters()
    ids = np.arange(N, dtype=np.float64)
    x = np.c_[x, ids]
    task = make_task(labels)
    monkeypatch.setitem(probes.PROBES, "linear", RecordingProbe)
    for train, test in task_splits(task, 0):
        RecordingProbe.seen.clear()
        probe_fold(x, task, train, test, ProbeConfig(), seed=0)
        # standardisation is fitted on the train rows, so map the ids back through it
        mean, std = ids[train].mean(), ids[train].std()
        seen = np.round(RecordingProbe.seen[0] * std + mean).astype(int)
        assert sorted(seen.tolist()) == sorted(train.tolist())


def test_probe_config():
    cfg = parse(ProbeConfig, {"probe": "mlp", "seeds": [0, 1, 2], "c_grid": [0.1, 1]}, "probe")
    assert cfg.seeds == (0, 1, 2) and cfg.c_grid == (0.1, 1.0)
    with pytest.raises(ConfigError, match="probe.probe"):
        parse(ProbeConfig, {"probe": "svm"}, "probe")
    with pytest.raises(ConfigError, match="c_grid"):
        parse(ProbeConfig, {"c_grid": [0]}, "probe")


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_folds_fitted_in_parallel_score_exactly_as_in_one_process(kind: str):
    x, labels = clusters(3)
    labels = np.where(np.random.default_rng(4).random(N) < 0.3, (labels + 1) % CLASSES, labels)  # not all perfect
    serial = evaluate_probe(x, make_task(labels), ProbeConfig(probe=kind, seeds=(0, 1), jobs=1, epochs=20))
    parallel = evaluate_probe(x, make_task(labels), ProbeConfig(probe=kind, seeds=(0, 1), jobs=2, epochs=20))
    assert serial.scores.shape == parallel.scores.shape == (2, 5)
    np.testing.assert_array_equal(serial.scores, parallel.scores)  # seed-major order kept, same fits
    assert len(np.unique(serial.scores)) > 1  # folds differ, so a reordering would show
    with pytest.raises(ConfigError, match="probe.jobs"):
        parse(ProbeConfig, {"jobs": 0}, "probe")
