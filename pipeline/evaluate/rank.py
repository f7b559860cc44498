"""How many directions an embedding really uses: effective rank and the top direction's share of variance.

A distilled student can fit its teacher's targets on the corpus while its embeddings collapse onto a few
directions; these two numbers make that visible next to the probe scores. Numpy only, so training can log them.
"""
from __future__ import annotations

import numpy as np


def singular_values(x: np.ndarray) -> np.ndarray:
    """Singular values of the centred rows of x (n, dim); rows with a non-finite value are left out."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x).all(axis=1)]
    if len(x) < 2:
        return np.zeros(0)
    return np.linalg.svd(x - x.mean(axis=0), compute_uv=False)


def effective_rank(x: np.ndarray) -> float:
    """exp(entropy of the normalised singular values) of the centred rows (Roy & Vetterli 2007); 0 if constant."""
    s = singular_values(x)
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


def top_share(x: np.ndarray) -> float:
    """Fraction of the centred variance held by the first principal direction (NaN if there is none)."""
    var = singular_values(x) ** 2
    return float(var[0] / var.sum()) if var.sum() > 0 else float("nan")
