"""The multi-teacher rows: best teacher per task, and the fused student's check against single-teacher students."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.evaluate.fusion import BEST, KEEP, check_markdown, fusion_checks, with_best_teacher
from pipeline.evaluate.report import results_table, write_report
from pipeline.evaluate.rows import ModelRow

FOLD_DIFFICULTY = np.random.default_rng(0).normal(0.0, 0.05, (3, 5))  # shared by every model: pairing cancels it


def _folds(scores: dict, seed: int) -> dict:
    """(3 seeds, 5 folds) scores around each task's mean: the folds' shared difficulty plus a little of the model's."""
    rng = np.random.default_rng(seed)
    out = {}
    for task, (mean, _) in scores.items():
        own = rng.normal(0.0, 0.005, (3, 5))
        out[task] = mean + FOLD_DIFFICULTY + own - (FOLD_DIFFICULTY + own).mean()
    return out


def _row(model, kind, scores, *args, seed=0, **kwargs) -> ModelRow:
    return ModelRow(model, kind, scores, *args, folds=_folds(scores, seed), **kwargs)


def _rows(fused_b: float = 0.62, fused_a: float = 0.92) -> list[ModelRow]:
    """Teacher t1 best on A, t2 best on B; single students s1/s2; a fused student of both."""
    return [
        _row("t1", "teacher", {"A": (0.9, 0.02), "B": (0.5, 0.04)}, params=4_000_000, seed=1),
        _row("t2", "teacher", {"A": (0.6, 0.03), "B": (0.7, 0.04)}, params=2_000_000, seed=2),
        _row("s1", "student", {"A": (0.85, 0.03), "B": (0.4, 0.05)}, 400_000, teacher="t1",
             distilled_from=("t1",), seed=3),
        _row("s2", "student", {"A": (0.5, 0.03), "B": (0.65, 0.05)}, 400_000, teacher="t2",
             distilled_from=("t2",), seed=4),
        _row("fused", "student", {"A": (fused_a, 0.03), "B": (fused_b, 0.05)}, 400_000, teacher=BEST,
             distilled_from=("t1", "t2"), seed=5),
        _row("logmel", "baseline", {"A": (0.5, 0.01), "B": (0.3, 0.02)}, seed=6),
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


@pytest.mark.parametrize("fused_b, verdict", [(0.66, "above"), (0.62, "within CI"), (0.55, "below")])
def test_each_task_is_shown_against_the_single_student_of_its_best_teacher(fused_b, verdict):
    (check,) = fusion_checks(_rows(fused_b))
    a, b = check.tasks
    assert (a.teacher, a.single, a.verdict, a.beats_teacher) == ("t1", "s1", "above", True)
    assert (b.teacher, b.single, b.verdict, b.beats_teacher) == ("t2", "s2", verdict, False)
    assert check.best_teacher == "t1" and check.best_teacher_average == pytest.approx(0.7)
    assert check.average == pytest.approx((0.92 + fused_b) / 2)


@pytest.mark.parametrize("fused_b, kept", [(0.66, True), (0.62, False)])
def test_each_teacher_must_be_kept_at_90_percent_on_its_strong_tasks(fused_b, kept):
    (check,) = fusion_checks(_rows(fused_b))
    t1, t2 = check.keeps
    assert (t1.teacher, t1.tasks, t1.kept) == ("t1", ("A",), True) and t1.share == pytest.approx(0.92 / 0.9)
    assert (t2.teacher, t2.tasks) == ("t2", ("B",)) and t2.share == pytest.approx(fused_b / 0.7)
    assert t2.kept is kept and (t2.share >= KEEP) is kept
    assert all(c.beaten for c in check.singles)  # 0.79 / 0.77 against 0.625 and 0.575: far above
    assert check.passed is kept


def test_the_average_must_beat_every_single_student_outside_the_paired_ci():
    # the fused average equals s1's up to the models' own fold noise: inside the CI of the paired difference
    rows = _rows(fused_b=0.66, fused_a=0.84)
    rows[2] = _row("s1", "student", {"A": (0.85, 0.03), "B": (0.65, 0.05)}, 400_000, teacher="t1",
                   distilled_from=("t1",), seed=3)
    (check,) = fusion_checks(rows)
    versus = {c.single: c for c in check.singles}
    assert not versus["s1"].beaten and versus["s2"].beaten and not check.passed
    mean, ci = versus["s1"].difference
    assert abs(mean) < 0.01 and ci < 0.01  # the folds' shared difficulty (sd 0.05) has cancelled
    assert all(k.kept for k in check.keeps)  # only the comparison with s1 fails


def test_without_fold_scores_or_a_single_student_the_check_cannot_pass():
    rows = [r for r in _rows(0.66) if r.model != "s2"]
    (check,) = fusion_checks(rows)
    assert check.tasks[1].verdict == "no single-teacher student"
    assert [c.single for c in check.singles] == ["s1"]
    assert "| B | t2 | 70.0 | - | 66.0 ± 5.0 | no single-teacher student |" in check_markdown(check)
    bare = [ModelRow(r.model, r.kind, r.scores, distilled_from=r.distilled_from) for r in _rows(0.66)]
    (check,) = fusion_checks(bare)
    assert all(c.difference is None and not c.beaten for c in check.singles) and not check.passed


def test_the_report_marks_the_check_and_writes_fusion_csv(tmp_path):
    text = write_report(_rows(0.55), tmp_path)
    assert "| best-teacher " in text and "## Fused student `fused` (t1 + t2)" in text
    assert "92.0 ± 3.0 ▲ | above" in text and "| below |" in text and "Check not passed" in text
    assert "| t2 | B | 70.0 | 55.0 | 78.6% ✗ |" in text
    table = pd.read_csv(tmp_path / "fusion.csv")
    assert list(table["task"]) == ["A", "B", "keep:t1", "keep:t2", "versus:s1", "versus:s2", "average"]
    assert list(table["verdict"]) == ["above", "below", "kept", "not kept", "beaten", "beaten", "not passed"]
    single = write_report(_rows()[:1] + _rows()[2:3] + _rows()[-1:], tmp_path / "one")
    assert "Fused" not in single and not (tmp_path / "one" / "fusion.csv").exists()
