"""One row of the results table: a probed model, its scores and what it was distilled from."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("teacher", "best_teacher", "student", "student_projected", "student_windows", "supervised", "untrained",
         "baseline")


@dataclass(frozen=True)
class ModelRow:
    """One evaluated model: size, per-task (mean, CI half width) scores, and the teacher it was distilled from."""

    model: str
    kind: str
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    params: int | None = None
    macs: int | None = None  # multiply-accumulates per 10 s of audio
    teacher: str | None = None
    rank: float | None = None  # effective rank of the clip embeddings, mean over tasks (collapse shows as low)
    distilled_from: tuple[str, ...] = ()  # a distilled student's teachers (two or more: a fused student)
    folds: dict[str, np.ndarray] = field(default_factory=dict, compare=False)  # task -> (seeds, folds) scores
    ranks: dict[str, float] = field(default_factory=dict, compare=False)  # task -> effective rank of its embeddings
    segments: dict[str, str] = field(default_factory=dict)  # detection task -> "frames" (one pass) or "windows"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"model {self.model}: unknown kind {self.kind!r}; valid: {list(KINDS)}")


def task_names(rows: list[ModelRow]) -> list[str]:
    """Every task of any row, in first-seen order."""
    return list(dict.fromkeys(t for r in rows for t in r.scores))
