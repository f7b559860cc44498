"""The multi-teacher rows: best teacher per task, and the fused student's check against single-teacher students."""
from __future__ import annotations

import pandas as pd
import pytest

from pipeline.evaluate.fusion import BEST, check_markdown, fusion_checks, with_best_teacher
from pipeline.evaluate.report import results_table, write_report
from pipeline.evaluate.rows import ModelRow


def _rows(fused_b: float = 0.62) -> list[ModelRow]:
    """Teacher t1 best on A, t2 best on B; single students s1/s2; a fused student of both."""
    return [
        ModelRow("t1", "teacher", {"A": (0.9, 0.02), "B": (0.5, 0.04)}, params=4_000_000),
        ModelRow("t2", "teacher", {"A": (0.6, 0.03), "B": (0.7, 0.04)}, params=2_000_000),
        ModelRow("s1", "student", {"A": (0.85, 0.03), "B": (0.4, 0.05)}, 400_000, teacher="t1",
                 distilled_from=("t1",)),
        ModelRow("s2", "student", {"A": (0.5, 0.03), "B": (0.65, 0.05)}, 400_000, teacher="t2",
                 distilled_from=("t2",)),
        ModelRow("fused", "student", {"A": (0.92, 0.03), "B": (fused_b, 0.05)}, 400_000, teacher=BEST,
                 distilled_from=("t1", "t2")),
        ModelRow("logmel", "baseline", {"A": (0.5, 0.01), "B": (0.3, 0.02)}),
    ]


def test_best_teacher_row_takes_each_tasks_best_teacher_after_the_teachers():
    rows = with_best_teacher(_rows())
    assert [r.model for r in rows[:3]] == ["t1", "t2", BEST]
    assert rows[2].scores == {"A": (0.9, 0.02), "B": (0.7, 0.04)} and rows[2].kind == "best_teacher"
    assert [r.model for r in with_best_teacher(_rows()[:1])] == ["t1"]  # one teacher: no such row


def test_a_fused_students_retention_is_against_the_best_teacher_per_task():
    df = results_table(with_best_teacher(_rows())).set_index("model")
    assert df.loc["fused", "retention"] == pytest.approx(100 * (0.92 + 0.62) / (0.9 + 0.7))
    assert df.loc["s2", "retention"] == pytest.approx(100 * (0.5 + 0.65) / (0.6 + 0.7))


@pytest.mark.parametrize("fused_b, verdict, passed", [(0.66, "above", True), (0.62, "within CI", True),
                                                      (0.55, "below", False)])
def test_each_task_is_judged_against_the_single_student_of_its_best_teacher(fused_b, verdict, passed):
    (check,) = fusion_checks(_rows(fused_b))
    a, b = check.tasks
    assert (a.teacher, a.single, a.verdict, a.beats_teacher) == ("t1", "s1", "above", True)
    assert (b.teacher, b.single, b.verdict, b.beats_teacher) == ("t2", "s2", verdict, False)
    assert check.best_teacher == "t1" and check.best_teacher_average == pytest.approx(0.7)
    assert check.average == pytest.approx((0.92 + fused_b) / 2)
    assert check.passed is passed


def test_the_average_must_reach_the_best_single_teachers():
    rows = _rows(0.66)
    rows[0] = ModelRow("t1", "teacher", {"A": (0.95, 0.02), "B": (0.5, 0.04)})  # average 0.725
    rows[1] = ModelRow("t2", "teacher", {"A": (0.9, 0.02), "B": (0.75, 0.04)})  # average 0.825 > the fused 0.79
    (check,) = fusion_checks(rows)
    assert check.best_teacher == "t2" and not check.passed
    assert all(t.verdict in ("above", "within CI") for t in check.tasks)  # only the average fails


def test_without_a_single_student_the_task_cannot_pass():
    rows = [r for r in _rows(0.66) if r.model != "s2"]
    (check,) = fusion_checks(rows)
    assert check.tasks[1].verdict == "no single-teacher student" and not check.passed
    assert "| B | t2 | 70.0 | - | 66.0 ± 5.0 | no single-teacher student |" in check_markdown(check)


def test_the_report_marks_the_check_and_writes_fusion_csv(tmp_path):
    text = write_report(_rows(0.55), tmp_path)
    assert "| best-teacher " in text and "## Fused student `fused` (t1 + t2)" in text
    assert "92.0 ± 3.0 ▲ | above" in text and "| below |" in text and "Check not passed" in text
    table = pd.read_csv(tmp_path / "fusion.csv")
    assert list(table["task"]) == ["A", "B", "average"]
    assert list(table["verdict"]) == ["above", "below", "not passed"]
    single = write_report(_rows()[:1] + _rows()[2:3] + _rows()[-1:], tmp_path / "one")
    assert "Fused" not in single and not (tmp_path / "one" / "fusion.csv").exists()
