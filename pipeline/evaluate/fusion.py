"""Multi-teacher comparison rows: the best teacher on each task, and the check of a fused student against it.

A student distilled from several teachers ("fused") is compared, task by task, with
- the best teacher on that task (the `best-teacher` row: per task, the highest-scoring teacher's score and CI), and
- the single-teacher student of the same recipe distilled from that task's best teacher.
The check (`fusion_checks`): the fused average against the best single teacher's average, and per task whether the
fused score is above that single-teacher student, within its CI (at most one CI half width below), or below.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.evaluate.rows import ModelRow, task_names

BEST = "best-teacher"


def fused(row: ModelRow) -> bool:
    """A distilled student of two or more teachers."""
    return row.kind == "student" and len(row.distilled_from) >= 2


def best_teachers(rows: list[ModelRow]) -> dict[str, str]:
    """Task -> name of the teacher row with the highest mean on it (first listed on ties)."""
    teachers = [r for r in rows if r.kind == "teacher"]
    out = {}
    for task in task_names(teachers):
        scored = [r for r in teachers if task in r.scores]
        out[task] = max(scored, key=lambda r: r.scores[task][0]).model  # max keeps the first of equal scores
    return out


def with_best_teacher(rows: list[ModelRow]) -> list[ModelRow]:
    """`rows` with a `best-teacher` row after the last teacher, when two or more teachers were probed."""
    teachers = [r for r in rows if r.kind == "teacher"]
    if len(teachers) < 2:
        return list(rows)
    by_name = {r.model: r for r in teachers}
    best = ModelRow(BEST, "best_teacher", {t: by_name[name].scores[t] for t, name in best_teachers(rows).items()})
    last = max(i for i, r in enumerate(rows) if r.kind == "teacher")
    return [*rows[:last + 1], best, *rows[last + 1:]]


@dataclass(frozen=True)
class TaskCheck:
    """One task of a fused student's check."""

    task: str
    teacher: str                 # the best teacher on this task
    teacher_score: float
    single: str | None           # the single-teacher student distilled from it (None: not evaluated)
    single_score: tuple[float, float] | None
    fused_score: tuple[float, float]

    @property
    def verdict(self) -> str:
        """above / within CI / below the single-teacher student ("no single-teacher student" without one)."""
        if self.single_score is None:
            return "no single-teacher student"
        (mean, ci), score = self.single_score, self.fused_score[0]
        return "above" if score >= mean else "within CI" if score >= mean - ci else "below"

    @property
    def beats_teacher(self) -> bool:
        return self.fused_score[0] > self.teacher_score


@dataclass(frozen=True)
class FusionCheck:
    """A fused student against its teachers and their single-teacher students."""

    student: str
    teachers: tuple[str, ...]
    average: float
    best_teacher: str            # the teacher with the highest average
    best_teacher_average: float
    tasks: tuple[TaskCheck, ...]

    @property
    def passed(self) -> bool:
        """Average >= the best single teacher's, and no task below its single-teacher student's CI."""
        return (self.average >= self.best_teacher_average
                and all(t.verdict in ("above", "within CI") for t in self.tasks))


def _average(row: ModelRow, tasks: list[str]) -> float:
    return float(np.mean([row.scores.get(t, (np.nan, np.nan))[0] for t in tasks]))


def fusion_checks(rows: list[ModelRow]) -> list[FusionCheck]:
    """One check per fused student; [] when there is none or fewer than two teachers were probed."""
    teachers = [r for r in rows if r.kind == "teacher"]
    if len(teachers) < 2:
        return []
    tasks = task_names(rows)
    best = best_teachers(rows)
    by_name = {r.model: r for r in rows}
    singles = {r.distilled_from[0]: r for r in rows if r.kind == "student" and len(r.distilled_from) == 1}
    top = max(teachers, key=lambda r: _average(r, tasks))
    checks = []
    for row in filter(fused, rows):
        per_task = []
        for task in tasks:
            name = best[task]
            single = singles.get(name)
            per_task.append(TaskCheck(task, name, by_name[name].scores[task][0],
                                      single.model if single else None,
                                      single.scores.get(task) if single else None, row.scores[task]))
        checks.append(FusionCheck(row.model, row.distilled_from, _average(row, tasks), top.model,
                                  _average(top, tasks), tuple(per_task)))
    return checks


def checks_table(checks: list[FusionCheck]) -> pd.DataFrame:
    """fusion.csv: one row per (fused student, task) and one `average` row each, scores as fractions."""
    records = []
    for c in checks:
        for t in c.tasks:
            single = t.single_score or (np.nan, np.nan)
            records.append({"student": c.student, "task": t.task, "best_teacher": t.teacher,
                            "teacher_score": t.teacher_score, "single_student": t.single, "single_score": single[0],
                            "single_ci": single[1], "fused_score": t.fused_score[0], "fused_ci": t.fused_score[1],
                            "verdict": t.verdict, "beats_teacher": t.beats_teacher})
        records.append({"student": c.student, "task": "average", "best_teacher": c.best_teacher,
                        "teacher_score": c.best_teacher_average, "fused_score": c.average,
                        "verdict": "passed" if c.passed else "not passed",
                        "beats_teacher": c.average >= c.best_teacher_average})
    return pd.DataFrame.from_records(records)


def check_markdown(check: FusionCheck) -> str:
    """A section of report.md: the check as a table and a one-line verdict (scores in %)."""
    def pct(score: tuple[float, float] | None) -> str:
        return "-" if score is None else f"{100 * score[0]:.1f} ± {100 * score[1]:.1f}"

    lines = [f"## Fused student `{check.student}` ({' + '.join(check.teachers)})", "",
             "| task | best teacher | its score | its single-teacher student | fused | fused vs that student |",
             "|---|---|---|---|---|---|"]
    for t in check.tasks:
        mark = " ▲" if t.beats_teacher else ""
        single = f"{t.single} {pct(t.single_score)}" if t.single else "-"
        lines.append(f"| {t.task} | {t.teacher} | {100 * t.teacher_score:.1f} | {single} | {pct(t.fused_score)}{mark} "
                     f"| {t.verdict} |")
    relation = ">=" if check.average >= check.best_teacher_average else "<"
    lines += ["", f"Average {100 * check.average:.1f} {relation} {100 * check.best_teacher_average:.1f}, the best "
              f"single teacher's ({check.best_teacher}). ▲: the fused student beats the best teacher on that task. "
              f"Check {'passed' if check.passed else 'not passed'}: average >= the best teacher's and every task above "
              f"or within the CI of the single-teacher student of that task's best teacher.", ""]
    return "\n".join(lines)
