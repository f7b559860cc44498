"""benchmarks.paired: two students on the same folds, nothing else probed."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from pathlib import Path

from benchmarks.paired import differences, students_only
from pipeline.evaluate.rows import ModelRow

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())


def test_students_only_probes_the_two_students_alone():
    cfg = students_only(PARAMS, "a", "b")
    assert cfg.students == ("a", "b") and cfg.supervised == ()
    assert not (cfg.untrained or cfg.projected or cfg.logmel or cfg.detection.sliding_students)
    assert cfg.window_seconds == PARAMS["audio"]["window_seconds"]


def row(name: str, folds: dict[str, np.ndarray]) -> ModelRow:
    return ModelRow(name, "student", {t: (float(f.mean()), 0.0) for t, f in folds.items()}, folds=folds)


def test_differences_are_paired_per_fold():
    rng = np.random.default_rng(0)
    hard = rng.uniform(0.3, 0.9, size=(3, 5))  # fold difficulty shared by both models
    a = row("a", {"x": hard + 0.02, "y": hard})
    b = row("b", {"x": hard, "y": hard + 0.01})
    out = dict(differences(a, b))
    assert out["x"][0] == pytest.approx(0.02) and out["x"][1] == pytest.approx(0.0, abs=1e-12)
    assert out["y"][0] == pytest.approx(-0.01)
    assert out["average"][0] == pytest.approx(0.005)
