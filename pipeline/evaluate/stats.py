"""Mean and Student-t confidence interval over repeated scores (folds and/or seeds)."""
from __future__ import annotations

import numpy as np
from scipy import stats


def mean_ci(scores: np.ndarray | list[float], confidence: float = 0.95) -> tuple[float, float]:
    """(mean, half width) of the two-sided t-interval: t_{(1+c)/2, n-1} * sample std / sqrt(n).

    The scores are treated as independent draws (any shape is flattened). A single score has no
    spread to estimate, so its half width is reported as 0, not as an infinite interval.
    """
    values = np.asarray(scores, dtype=np.float64).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"mean_ci needs at least one finite score, got {values.tolist()}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    mean = float(values.mean())
    if values.size == 1:
        return mean, 0.0
    t = stats.t.ppf((1 + confidence) / 2, df=values.size - 1)
    return mean, float(t * values.std(ddof=1) / np.sqrt(values.size))
