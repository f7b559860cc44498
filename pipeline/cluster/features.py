"""Clip embedding -> clustering feature: optional L2 normalisation, then optional PCA fitted on a sample."""
from __future__ import annotations

import numpy as np
from sklearn.decomposition import IncrementalPCA


def usable_rows(x: np.ndarray, normalize: bool) -> np.ndarray:
    """Rows that can be clustered: all values finite and, when normalising, a non-zero norm."""
    ok = np.isfinite(x).all(axis=1)
    if normalize:
        ok &= np.any(x != 0, axis=1)
    return ok


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (callers pass only usable rows, so no norm is zero)."""
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class Features:
    """The fixed transform applied to every block before k-means (the same for fit, predict and metrics)."""

    def __init__(self, normalize: bool, pca: IncrementalPCA | None = None):
        self.normalize, self.pca = normalize, pca

    @classmethod
    def fit(cls, sample: np.ndarray, normalize: bool, pca_dim: int | None, whiten: bool,
            batch_size: int) -> "Features":
        """Fit the PCA (if any) on usable sample rows (sample, dim)."""
        if pca_dim is None:
            return cls(normalize)
        x = l2_normalize(sample) if normalize else sample
        pca = IncrementalPCA(n_components=pca_dim, whiten=whiten, batch_size=max(batch_size, pca_dim))
        return cls(normalize, pca.fit(x))

    @property
    def dim_out(self) -> int | None:
        """Feature width after PCA (None = the embedding width)."""
        return None if self.pca is None else int(self.pca.n_components_)

    def usable(self, x: np.ndarray) -> np.ndarray:
        """Mask (rows,) of rows this transform accepts."""
        return usable_rows(x, self.normalize)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Features (rows, dim_out) float32 of usable rows (rows, dim)."""
        if self.normalize:
            x = l2_normalize(x)
        if self.pca is not None:
            x = self.pca.transform(x)
        return np.ascontiguousarray(x, dtype=np.float32)
