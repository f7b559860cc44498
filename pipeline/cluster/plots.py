"""Pictures and CSVs of a clustering: cluster sizes before/after balancing and a 2-D map of a sample."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

# label panels show this many classes in colour; the rest are grey
TOP_LABELS = 12


def sizes_table(sizes: np.ndarray, expected: np.ndarray) -> pd.DataFrame:
    """One row per cluster: its size and its expected draws per epoch after balancing."""
    return pd.DataFrame({"cluster": np.arange(len(sizes)), "size": sizes.astype(np.int64),
                         "expected_balanced": expected})


def plot_sizes(table: pd.DataFrame, path: str | Path) -> None:
    """Bars of each cluster's share of an epoch: uniform sampling (= size) vs balanced, largest first."""
    t = table.sort_values("size", ascending=False)
    x = np.arange(len(t))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.18 * len(t) + 2), 3.5))
    ax.bar(x - 0.2, t["size"], width=0.4, label="uniform (cluster size)")
    ax.bar(x + 0.2, t["expected_balanced"], width=0.4, label="balanced (expected draws)")
    ax.set_xticks(x, t["cluster"].astype(str), rotation=90, fontsize=6)
    ax.set_xlabel("cluster (largest first)")
    ax.set_ylabel("rows per epoch")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _scatter(ax, xy: np.ndarray, classes: np.ndarray, title: str) -> None:
    names, counts = np.unique(classes, return_counts=True)
    top = names[np.argsort(-counts)][:TOP_LABELS] if classes.dtype.kind in "OUS" else names
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(top):
        m = classes == name
        ax.scatter(xy[m, 0], xy[m, 1], s=4, color=cmap(i % 20), label=str(name)[:20])
    rest = ~np.isin(classes, top)
    if rest.any():
        ax.scatter(xy[rest, 0], xy[rest, 1], s=4, color="0.7", label="other")
    ax.set_title(title, fontsize=9)
    if len(top) <= TOP_LABELS:
        ax.legend(fontsize=6, markerscale=2, loc="best")


def plot_map(features: np.ndarray, clusters: np.ndarray, path: str | Path,
             label: tuple[str, np.ndarray] | None = None) -> None:
    """2-D PCA map of sample features (rows, dim) coloured by cluster, plus one label column if given."""
    xy = PCA(n_components=2, random_state=0).fit_transform(features) if len(features) > 2 \
        else np.zeros((len(features), 2))
    panels = 2 if label is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.0 * panels, 4.5), squeeze=False)
    _scatter(axes[0, 0], xy, clusters, "clusters")
    if label is not None:
        _scatter(axes[0, 1], xy, label[1], f"label: {label[0]}")
    for ax in axes[0]:
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
