"""Multi-teacher comparison rows: the best teacher on each task, and the check of a fused student against it.

A student distilled from several teachers ("fused") is judged per teacher, where fusion should pay:
- on each teacher's own strong tasks (those where it is the best teacher probed) the fused student keeps at least
  KEEP (90%) of that teacher's average, and
- its average beats every single-teacher student of the same recipe, by a paired difference whose CI excludes 0
  (pipeline.evaluate.paired: the same folds, so the fold's difficulty cancels).
For reading, the check also shows per task the best teacher (the `best-teacher` row), that teacher's single-teacher
student and whether the fused score is above it, within its CI or below.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.evaluate.paired import Interval, average_difference, fmt, verdict
from pipeline.evaluate.rows import ModelRow, task_names

BEST = "best-teacher"
KEEP = 0.9  # share of a teacher's average on its strong tasks a fused student must keep


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
class TeacherKeep:
    """What a fused student keeps of one of its teachers on that teacher's strong tasks."""

    teacher: str
    tasks: tuple[str, ...]       # where it is the best teacher probed (none: nothing to keep)
    teacher_average: float       # its average there (nan without tasks)
    fused_average: float

    @property
    def share(self) -> float:
        return self.fused_average / self.teacher_average if self.tasks else float("nan")

    @property
    def kept(self) -> bool:
        return not self.tasks or self.share >= KEEP


@dataclass(frozen=True)
class SingleComparison:
    """The fused student's average minus a single-teacher student's, paired by fold."""

    single: str
    teacher: str
    difference: Interval | None  # None: no paired fold scores

    @property
    def beaten(self) -> bool:
        return verdict(self.difference) == "above"


@dataclass(frozen=True)
class FusionCheck:
    """A fused student against its teachers and their single-teacher students."""

    student: str
    teachers: tuple[str, ...]
    average: float
    best_teacher: str            # the teacher with the highest average
    best_teacher_average: float
    tasks: tuple[TaskCheck, ...]
    keeps: tuple[TeacherKeep, ...] = ()
    singles: tuple[SingleComparison, ...] = ()

    @property
    def passed(self) -> bool:
        """>= KEEP of every teacher on its strong tasks, and above every single-teacher student outside the CI."""
        return (all(k.kept for k in self.keeps) and bool(self.singles)
                and all(c.beaten for c in self.singles))


def _average(row: ModelRow, tasks: list[str] | tuple[str, ...]) -> float:
    return float(np.mean([row.scores.get(t, (np.nan, np.nan))[0] for t in tasks]))


def _keeps(row: ModelRow, by_name: dict[str, ModelRow], best: dict[str, str]) -> tuple[TeacherKeep, ...]:
    out = []
    for teacher in row.distilled_from:
        strong = tuple(t for t, name in best.items() if name == teacher)
        teacher_avg = _average(by_name[teacher], strong) if strong and teacher in by_name else float("nan")
        out.append(TeacherKeep(teacher, strong if teacher in by_name else (), teacher_avg,
                               _average(row, strong) if strong else float("nan")))
    return tuple(out)


def _singles(row: ModelRow, singles: dict[str, ModelRow], tasks: list[str]) -> tuple[SingleComparison, ...]:
    return tuple(SingleComparison(singles[t].model, t, average_difference(row, singles[t], tasks))
                 for t in row.distilled_from if t in singles)


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
                                  _average(top, tasks), tuple(per_task), _keeps(row, by_name, best),
                                  _singles(row, singles, tasks)))
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
        for k in c.keeps:
            records.append({"student": c.student, "task": f"keep:{k.teacher}", "best_teacher": k.teacher,
                            "teacher_score": k.teacher_average, "fused_score": k.fused_average,
                            "verdict": "kept" if k.kept else "not kept", "share": k.share})
        for v in c.singles:
            diff = v.difference or (np.nan, np.nan)
            records.append({"student": c.student, "task": f"versus:{v.single}", "single_student": v.single,
                            "difference": diff[0], "difference_ci": diff[1],
                            "verdict": "beaten" if v.beaten else "not beaten"})
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
              f"single teacher's ({check.best_teacher}). ▲: the fused student beats the best teacher on that task.", ""]
    lines += ["| teacher | its strong tasks | teacher there | fused there | kept |", "|---|---|---|---|---|"]
    for k in check.keeps:
        shown = f"{100 * k.share:.1f}%" if k.tasks else "-"
        lines.append(f"| {k.teacher} | {', '.join(k.tasks) or '-'} | {100 * k.teacher_average:.1f} | "
                     f"{100 * k.fused_average:.1f} | {shown} {'✓' if k.kept else '✗'} |")
    lines += ["", "| single-teacher student | fused minus it, average (paired) | beaten |", "|---|---|---|"]
    for v in check.singles:
        lines.append(f"| {v.single} | {fmt(v.difference)} | {'✓' if v.beaten else '✗'} |")
    lines += ["", f"Check {'passed' if check.passed else 'not passed'}: at least {100 * KEEP:.0f}% of each teacher on "
              f"the tasks where it is the best teacher, and an average above every single-teacher student of the same "
              f"recipe with the paired CI of the difference excluding 0.", ""]
    return "\n".join(lines)
