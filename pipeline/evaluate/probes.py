"""Probes on frozen embeddings: fit on each fold's train rows (tuned on an inner split of them), score on test.

Nothing about a test fold is used before its score is taken: standardisation statistics, the inner
validation split and the choice of C (or of the early-stopping epoch) all come from the train rows.
Rows whose embedding is not finite (the model failed on that clip) are left out of training and scored
as the training mean, so every model is scored on the same test rows.
"""
from __future__ import annotations

import copy
import functools
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from joblib import Parallel, delayed
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from threadpoolctl import threadpool_limits
from torch import nn

from pipeline.config import check
from pipeline.evaluate.metrics import METRICS
from pipeline.evaluate.splits import inner_split, task_splits
from pipeline.evaluate.stats import mean_ci
from pipeline.evaluate.tasks import Task

ProbeKind = Literal["linear", "mlp", "torch_linear"]


@dataclass(frozen=True)
class ProbeConfig:
    """How probes are fitted; `linear` is scikit-learn's logistic regression, the others train in torch."""

    probe: ProbeKind = "linear"
    seeds: tuple[int, ...] = (0, 1, 2)
    val_fraction: float = 0.2
    c_grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    max_iter: int = 1000
    hidden: int = 256
    epochs: int = 200
    patience: int = 20
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    threads: int = 1
    jobs: int = 2  # processes fitting folds side by side (joblib); 1 fits them in this process

    def __post_init__(self):
        check(len(self.seeds) >= 1, "probe.seeds", "needs at least one seed")
        check(0 < self.val_fraction < 0.5, "probe.val_fraction", f"must be in (0, 0.5), got {self.val_fraction}")
        check(len(self.c_grid) >= 1 and min(self.c_grid) > 0, "probe.c_grid",
              f"needs positive values, got {self.c_grid}")
        check(self.max_iter >= 10, "probe.max_iter", f"must be >= 10, got {self.max_iter}")
        check(self.hidden >= 1 and self.epochs >= 1 and self.patience >= 1 and self.batch_size >= 1, "probe",
              "hidden, epochs, patience and batch_size must be >= 1")
        check(self.threads >= 1, "probe.threads", f"must be >= 1, got {self.threads}")
        check(self.jobs >= 1, "probe.jobs", f"must be >= 1, got {self.jobs}")
        check(self.learning_rate > 0 and self.weight_decay >= 0, "probe",
              "learning_rate must be > 0 and weight_decay >= 0")


@dataclass(frozen=True, eq=False)
class ProbeResult:
    """Scores of one model on one task: one per (seed, fold)."""

    task: str
    metric: str
    scores: np.ndarray  # (seeds, folds)
    n_invalid: int

    def summary(self, confidence: float = 0.95) -> tuple[float, float]:
        """(mean, CI half width) over all seed/fold scores."""
        return mean_ci(self.scores, confidence)


class LogisticProbe:
    """Logistic regression (lbfgs; one-vs-rest when multi-label); C picked on validation, then refit on all."""

    def __init__(self, cfg: ProbeConfig, metric: str, n_classes: int, multilabel: bool):
        self.cfg, self.metric, self.n_classes, self.multilabel = cfg, metric, n_classes, multilabel
        self.c: float | None = None
        self.model: Any = None

    def fit(self, x_fit: np.ndarray, y_fit: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
            seed: int) -> "LogisticProbe":
        """Choose C by the task metric on (x_val, y_val), then refit on fit + validation rows."""
        grid = sorted(self.cfg.c_grid)
        if len(grid) > 1:
            score = METRICS[self.metric]
            found = [score(y_val, self._scores(self._fit(c, x_fit, y_fit), x_val)) for c in grid]
            grid = [grid[int(np.argmax(found))]]  # ties go to the smallest C, the most regularised
        self.c = grid[0]
        self.model = self._fit(self.c, np.concatenate([x_fit, x_val]), np.concatenate([y_fit, y_val]))
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        """(n, classes) class scores of the fitted model."""
        return self._scores(self.model, x)

    def _fit(self, c: float, x: np.ndarray, y: np.ndarray) -> Any:
        model = LogisticRegression(C=c, max_iter=self.cfg.max_iter)
        if self.multilabel:
            model = OneVsRestClassifier(model, n_jobs=1)
        with warnings.catch_warnings():
            # a class absent from (or present in every row of) a training part gets a constant score
            warnings.filterwarnings("ignore", message="Label .* is present in all training examples")
            return model.fit(x, y)

    def _scores(self, model: Any, x: np.ndarray) -> np.ndarray:
        if self.multilabel:
            return model.predict_proba(x)  # (n, classes)
        out = np.full((len(x), self.n_classes), -np.inf)  # classes unseen in training never win
        out[:, model.classes_] = model.predict_log_proba(x)
        return out


class TorchProbe:
    """A linear layer (hidden=0) or one-hidden-layer MLP trained with Adam, early-stopped on validation."""

    def __init__(self, cfg: ProbeConfig, metric: str, n_classes: int, multilabel: bool, hidden: int | None = None):
        self.cfg, self.metric, self.n_classes, self.multilabel = cfg, metric, n_classes, multilabel
        self.hidden = cfg.hidden if hidden is None else hidden
        self.net: nn.Module | None = None

    def fit(self, x_fit: np.ndarray, y_fit: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
            seed: int) -> "TorchProbe":
        """Train on the fit rows; keep the weights of the epoch with the lowest validation loss."""
        with torch.random.fork_rng(devices=[]):  # seeds init and shuffling without touching the global RNG
            torch.manual_seed(seed)
            net = self._build(x_fit.shape[1])
            opt = torch.optim.Adam(net.parameters(), lr=self.cfg.learning_rate, weight_decay=self.cfg.weight_decay)
            fit, val = self._tensors(x_fit, y_fit), self._tensors(x_val, y_val)
            best, best_state, waited = np.inf, copy.deepcopy(net.state_dict()), 0
            for _ in range(self.cfg.epochs):
                self._epoch(net, opt, *fit)
                with torch.no_grad():
                    loss = float(self._loss(net.eval()(val[0]), val[1]))
                if loss < best:
                    best, best_state, waited = loss, copy.deepcopy(net.state_dict()), 0
                elif (waited := waited + 1) >= self.cfg.patience:
                    break
        net.load_state_dict(best_state)
        self.net = net
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        """(n, classes) scores of the fitted network: class probabilities when multi-label, else logits."""
        logits = self._predict(self.net, x)
        return expit(logits) if self.multilabel else logits

    def _build(self, dim: int) -> nn.Module:
        if self.hidden == 0:
            return nn.Linear(dim, self.n_classes)
        return nn.Sequential(nn.Linear(dim, self.hidden), nn.ReLU(), nn.Dropout(0.1),
                             nn.Linear(self.hidden, self.n_classes))

    def _tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        target = torch.from_numpy(y)
        return torch.from_numpy(x).float(), target.float() if self.multilabel else target.long()

    def _loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.multilabel:
            return nn.functional.binary_cross_entropy_with_logits(logits, target)
        return nn.functional.cross_entropy(logits, target)

    def _epoch(self, net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
        net.train()
        for rows in torch.randperm(len(x)).split(self.cfg.batch_size):
            opt.zero_grad()
            self._loss(net(x[rows]), y[rows]).backward()
            opt.step()

    @torch.no_grad()
    def _predict(self, net: nn.Module, x: np.ndarray) -> np.ndarray:
        net.eval()
        return net(torch.from_numpy(x).float()).numpy().astype(np.float64)


PROBES = {
    "linear": LogisticProbe,
    "torch_linear": functools.partial(TorchProbe, hidden=0),
    "mlp": TorchProbe,
}


def standardise(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Z-score every column with the mean/std of `rows`; non-finite rows become 0 (the training mean)."""
    mean, std = x[rows].mean(axis=0), x[rows].std(axis=0)
    std[std < 1e-8] = 1.0  # a constant feature stays 0 instead of dividing by ~0
    z = (x - mean) / std
    z[~np.isfinite(z).all(axis=1)] = 0.0
    return z


def probe_fold(x: np.ndarray, task: Task, train: np.ndarray, test: np.ndarray, cfg: ProbeConfig,
               seed: int) -> float:
    """Fit a probe on the finite `train` rows of `x` (n, dim) and return the task metric on `test`."""
    train = train[np.isfinite(x[train]).all(axis=1)]
    z = standardise(x, train)
    groups = task.groups[train] if task.grouped else None
    fit, val = inner_split(task.labels[train], groups, cfg.val_fraction, seed)
    probe = PROBES[cfg.probe](cfg, task.metric, len(task.classes), task.multilabel)
    with threadpool_limits(cfg.threads):  # BLAS/OpenMP threads on small fits mostly spin and contend
        probe.fit(z[train[fit]], task.labels[train[fit]], z[train[val]], task.labels[train[val]], seed)
        scores = probe.scores(z[test])
    return METRICS[task.metric](task.labels[test], scores)


def evaluate_probe(embeddings: np.ndarray, task: Task, cfg: ProbeConfig) -> ProbeResult:
    """Probe scores of (n, dim) clip embeddings on every fold of the task, for every seed."""
    if embeddings.ndim != 2 or len(embeddings) != task.n_clips:
        raise ValueError(f"task {task.name}: expected ({task.n_clips}, dim) embeddings, got {embeddings.shape}")
    invalid = int((~np.isfinite(embeddings).all(axis=1)).sum())
    if invalid == task.n_clips:
        raise ValueError(f"task {task.name}: every embedding is NaN/Inf; nothing to probe")
    x = embeddings.astype(np.float64)
    fits = [(seed, train, test) for seed in cfg.seeds for train, test in task_splits(task, seed)]
    if cfg.jobs == 1 or len(fits) == 1:
        flat = [probe_fold(x, task, train, test, cfg, seed) for seed, train, test in fits]
    else:  # every fold is fitted from its own rows and seed alone: the same scores in any process, in any order
        flat = Parallel(n_jobs=min(cfg.jobs, len(fits)))(
            delayed(probe_fold)(x, task, train, test, cfg, seed) for seed, train, test in fits)
    scores = np.asarray(flat, dtype=np.float64).reshape(len(cfg.seeds), -1)  # (seeds, folds): n_folds per seed
    return ProbeResult(task.name, task.metric, scores, invalid)
