"""Retention and gap closed on a hand example, and the files the report writes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.evaluate.report import (ModelRow, gap_closed, human_count, label_heights, results_table, retention,
                                      write_report)

ROWS = [
    ModelRow("teacher", "teacher", {"A": (0.9, 0.02), "B": (0.7, 0.04)}, params=90_000_000, macs=50e9),
    ModelRow("student", "student", {"A": (0.8, 0.03), "B": (0.6, 0.05)}, params=1_200_000, macs=0.3e9,
             teacher="teacher"),
    ModelRow("logmel", "baseline", {"A": (0.5, 0.01), "B": (0.3, 0.0)}),
]


def test_retention_and_gap_closed_hand_example():
    # averages: teacher 0.8, student 0.7, logmel 0.4 -> retention 0.7/0.8 = 87.5 %, gap (0.3)/(0.4) = 75 %
    df = results_table(ROWS).set_index("model")
    assert df.loc["student", "average"] == pytest.approx(0.7)
    assert df.loc["student", "retention"] == pytest.approx(87.5)
    assert df.loc["student", "gap_closed"] == pytest.approx(75.0)
    assert df.loc[["teacher", "logmel"], "retention"].isna().all()
    assert retention(0.7, 0.8) == pytest.approx(87.5)
    assert gap_closed(0.3, 0.8, 0.4) == pytest.approx(-25.0)  # worse than the baseline
    assert pd.isna(gap_closed(0.7, 0.4, 0.4)) and pd.isna(retention(0.7, None))
    assert pd.isna(gap_closed(0.5, 0.3, 0.4))  # the teacher is below the baseline: no gap to close


def test_write_report_files(tmp_path: Path):
    text = write_report(ROWS, tmp_path)
    assert (tmp_path / "report.md").read_text() == text
    lines = text.splitlines()
    assert lines[0].split("|")[1].strip() == "model" and "90.0 ± 2.0" in lines[2]
    assert "87.5" in lines[3] and "75.0" in lines[3] and "1.2M" in lines[3]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["student/A"] == pytest.approx(0.8) and metrics["student/A_ci"] == pytest.approx(0.03)
    assert metrics["student/average"] == pytest.approx(0.7) and metrics["student/retention"] == pytest.approx(87.5)
    assert "teacher/retention" not in metrics
    results = pd.read_csv(tmp_path / "results.csv")
    assert results["model"].tolist() == ["teacher", "student", "logmel"]
    assert results.loc[1, "gap_closed"] == pytest.approx(75.0)
    assert len(pd.read_csv(tmp_path / "plots" / "scores.csv")) == 6
    assert (tmp_path / "scores.png").read_bytes()[:4] == b"\x89PNG"


def test_report_without_sizes_or_teacher(tmp_path: Path):
    rows = [ROWS[2], ModelRow("partial", "untrained", {"A": (0.6, 0.1)})]
    text = write_report(rows, tmp_path, baseline=None)
    assert text.splitlines()[3].replace(" ", "").startswith("|partial|untrained|-|-|-|60.0±10.0|-|-|")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["partial/A"] == pytest.approx(0.6) and "partial/average" not in metrics  # no score on B
    assert (tmp_path / "scores.png").exists()


def test_bad_rows():
    with pytest.raises(ValueError, match="unknown kind"):
        ModelRow("x", "distilled")
    with pytest.raises(ValueError, match="unique"):
        results_table([ROWS[0], ROWS[0]])
    with pytest.raises(ValueError, match="not among the models"):
        results_table([ROWS[1]])


def test_size_plot_labels_of_one_size_do_not_overlap():
    x, y = np.array([4e5, 4e5, 4e5, 4.7e6]), np.array([52.6, 52.7, 35.3, 58.2])
    heights = label_heights(x, y, gap=1.5)
    same = np.sort(heights[:3])
    assert np.diff(same).min() >= 1.5 and heights[3] == 58.2 and heights[2] == 35.3
    assert [human_count(v) for v in (396944, 4.69e6, 950)] == ["397k", "4.69M", "950"]


def test_detection_rows_say_how_segments_were_embedded(tmp_path: Path):
    folds = {"A": np.full((3, 5), 0.8), "D": np.array([[0.60, 0.62, 0.58, 0.61, 0.59]] * 3)}
    sliding = {"D": folds["D"] - np.array([0.05, 0.03, 0.04, 0.06, 0.05])}
    rows = [ModelRow("teacher", "teacher", {"A": (0.9, 0.0), "D": (0.7, 0.0)}, segments={"D": "windows"}),
            ModelRow("demo", "student", {"A": (0.8, 0.0), "D": (0.6, 0.01)}, params=400_000, teacher="teacher",
                     folds=folds, segments={"D": "frames"}),
            ModelRow("demo-windows", "student_windows", {"D": (0.55, 0.01)}, params=400_000, folds=sliding,
                     segments={"D": "windows"})]
    text = write_report(rows, tmp_path)
    df = results_table(rows).set_index("model")
    assert df.loc["demo", "average"] == pytest.approx(0.7)  # the detection task counts in the average
    assert np.isnan(df.loc["demo-windows", "average"])  # probed on the detection task alone: no average
    assert "- one pass over each clip (frame embeddings, pooled per segment): demo\n" in text
    assert "as a clip: teacher, demo-windows\n" in text
    assert "- D: demo (one pass) minus demo-windows: +4.6 ± 0.6 points (above;" in text  # t(14) * sd / sqrt(15)
    assert (tmp_path / "scores.png").exists()
