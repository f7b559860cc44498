"""Paired differences between two models probed on the same folds.

Every model is probed on the same seeded splits of a task, so the score of model A on (seed, fold) and that of B
on the same (seed, fold) share the fold's difficulty. Their difference per fold has a much smaller spread than
either score: its t-interval says whether A beats B, where two overlapping per-model CIs cannot.
"""
from __future__ import annotations

import numpy as np

from pipeline.evaluate.rows import ModelRow
from pipeline.evaluate.stats import mean_ci

Interval = tuple[float, float]  # (mean, CI half width)


def task_difference(a: ModelRow, b: ModelRow, task: str) -> Interval | None:
    """(mean, CI) of A - B over the (seed, fold) scores of `task`; None without both models' fold scores."""
    if task not in a.folds or task not in b.folds or a.folds[task].shape != b.folds[task].shape:
        return None
    return mean_ci(a.folds[task] - b.folds[task])


def average_difference(a: ModelRow, b: ModelRow, tasks: list[str]) -> Interval | None:
    """(mean, CI) of A - B on the average over `tasks`: per (seed, fold), the task-averaged difference."""
    if not tasks or any(task_difference(a, b, t) is None for t in tasks):
        return None
    if len({a.folds[t].shape for t in tasks}) != 1:
        return None  # tasks probed with different seed/fold counts cannot be paired cell by cell
    return mean_ci(np.mean([a.folds[t] - b.folds[t] for t in tasks], axis=0))


def verdict(diff: Interval | None) -> str:
    """'above' / 'below' when the interval excludes 0, 'tie' when it holds it, '-' without paired scores."""
    if diff is None:
        return "-"
    mean, ci = diff
    return "above" if mean - ci > 0 else "below" if mean + ci < 0 else "tie"


def fmt(diff: Interval | None) -> str:
    """'+1.2 ± 0.8' in points (scores are fractions); '-' when missing."""
    return "-" if diff is None else f"{100 * diff[0]:+.1f} ± {100 * diff[1]:.1f}"


def versus_markdown(rows: list[ModelRow], tasks: list[str]) -> str:
    """report.md section: each distilled student against log-mel statistics and its untrained twin, per task and on
    the average, as paired differences ('' when there is nothing to compare)."""
    students = [r for r in rows if r.kind == "student" and r.folds]
    others = [r for r in rows if r.kind in ("baseline", "untrained") and r.folds]
    if not students or not others:
        return ""
    lines = ["## Students against log-mel statistics and the untrained network (paired by fold)", "",
             "| student | against | " + " | ".join(tasks) + " | average |", "|---" * (len(tasks) + 3) + "|"]
    for s in students:
        for o in others:
            cells = [task_difference(s, o, t) for t in tasks] + [average_difference(s, o, tasks)]
            lines.append(f"| {s.model} | {o.model} | " + " | ".join(f"{fmt(c)} {_mark(c)}" for c in cells) + " |")
    lines += ["", "Points of the student minus the other model, mean ± 95% CI over the (seed, fold) differences; "
              "▲ above, ▼ below (the CI excludes 0), = a tie.", ""]
    return "\n".join(lines)


def _mark(diff: Interval | None) -> str:
    return {"above": "▲", "below": "▼", "tie": "=", "-": ""}[verdict(diff)]
