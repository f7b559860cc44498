"""Settings of the `cluster` stage (Balanced Data Sampling) and the error it raises on bad input."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import DEFAULT_JOINT_TEACHERS, DEFAULT_TEACHERS, check


class ClusterError(ValueError):
    """The embeddings cannot be clustered as asked (too few usable rows, mismatched store or index)."""


@dataclass(frozen=True)
class ClusterConfig:
    """Params section `cluster`: streaming k-means over clip embeddings and the balancing of its clusters."""

    teacher: str = DEFAULT_TEACHERS[0]
    # clustered with `teacher` (each L2-normalised, concatenated); None: the other default teachers when `teacher`
    # is the first default one (the demo's joint space), else none
    joint_teachers: tuple[str, ...] | None = None
    k: int = 50
    normalize: bool = True
    pca_dim: int | None = None
    whiten: bool = False
    seed: int = 0
    batch_size: int = 4096
    passes: int = 3
    chunk_rows: int = 8192
    init_size: int = 10000
    balance: float = 1.0
    min_weight_floor: float = 0.0
    metric_sample: int = 5000
    map_sample: int = 3000
    sweep: tuple[int, ...] = ()  # extra k values for dvc.yaml's `cluster-sweep` foreach; not read by the library

    @property
    def teachers(self) -> list[str]:
        """Every teacher whose store is clustered (one, or the joint space of several)."""
        return [self.teacher, *self.joint_teachers]

    def __post_init__(self):
        check(bool(self.teacher), "cluster.teacher", "must name a teacher store")
        if self.joint_teachers is None:
            joint = DEFAULT_JOINT_TEACHERS if self.teacher == DEFAULT_TEACHERS[0] else ()
            object.__setattr__(self, "joint_teachers", joint)
        names = [self.teacher, *self.joint_teachers]
        check(len(set(names)) == len(names) and all(names), "cluster.joint_teachers",
              f"must name other teachers than cluster.teacher, each once, got {list(self.joint_teachers)}")
        check(self.k >= 2, "cluster.k", f"must be >= 2, got {self.k}")
        check(self.pca_dim is None or self.pca_dim >= 2, "cluster.pca_dim", f"must be null or >= 2, got {self.pca_dim}")
        check(not self.whiten or self.pca_dim is not None, "cluster.whiten", "needs pca_dim (whitening is done by PCA)")
        check(self.seed >= 0, "cluster.seed", f"must be >= 0, got {self.seed}")
        check(self.batch_size >= 1, "cluster.batch_size", f"must be >= 1, got {self.batch_size}")
        check(self.passes >= 1, "cluster.passes", f"must be >= 1, got {self.passes}")
        check(self.chunk_rows >= 1, "cluster.chunk_rows", f"must be >= 1, got {self.chunk_rows}")
        check(self.init_size >= self.k, "cluster.init_size",
              f"must be >= k ({self.k}) so k-means++ can place every centroid, got {self.init_size}")
        check(self.pca_dim is None or self.init_size >= self.pca_dim, "cluster.init_size",
              f"must be >= pca_dim ({self.pca_dim}): PCA is fitted on the init sample, got {self.init_size}")
        check(0.0 <= self.balance <= 1.0, "cluster.balance", f"must be in [0, 1], got {self.balance}")
        check(0.0 <= self.min_weight_floor < 1.0, "cluster.min_weight_floor",
              f"must be in [0, 1), got {self.min_weight_floor}")
        check(self.metric_sample == 0 or self.metric_sample > self.k, "cluster.metric_sample",
              f"must be 0 (skip) or > k ({self.k}), got {self.metric_sample}")
        check(all(k >= 2 for k in self.sweep), "cluster.sweep", f"every k must be >= 2, got {list(self.sweep)}")
        check(self.map_sample >= 10, "cluster.map_sample", f"must be >= 10, got {self.map_sample}")
