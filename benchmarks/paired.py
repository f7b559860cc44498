"""Two students of one project, paired by fold: per task and on the average, A minus B with a 95% CI.

    python -m benchmarks.paired A B [--params params.yaml]

The evaluate report pairs each student with its untrained twin, log-mel statistics and its single-teacher students;
this compares any two students under `paths.students` on the same grouped folds and seeds, from the task embeddings
`evaluate` cached (`paths.eval_embeddings`: no forward pass when both were evaluated before). Besides the two students
only `evaluate.teachers` are probed (the suite needs a teacher for retention; their embeddings are cached too): no
twin, projection or baseline row.
"""
from __future__ import annotations

import argparse

from pipeline.config import parse
from pipeline.evaluate.paired import average_difference, task_difference
from pipeline.evaluate.rows import ModelRow
from pipeline.evaluate.suite import EvaluateConfig, EvaluatePaths, run_suite
from stages.params import audio_config, read_params


def students_only(params: dict, a: str, b: str) -> EvaluateConfig:
    """params' `evaluate` section narrowed to probing students `a` and `b` alone."""
    data = dict(params.get("evaluate") or {}, students=[a, b], supervised=[], untrained=False, projected=False,
                logmel=False, window_seconds=audio_config(params).window_seconds)
    data["detection"] = dict(data.get("detection") or {}, sliding_students=False)
    return parse(EvaluateConfig, data, "evaluate")


def differences(first: ModelRow, second: ModelRow) -> list[tuple[str, tuple[float, float] | None]]:
    """(task, (mean, CI) of first - second) per task, then ("average", ...)."""
    tasks = list(first.scores)
    return [(t, task_difference(first, second, t)) for t in tasks] + [("average",
                                                                      average_difference(first, second, tasks))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = read_params(args.params)
    paths = params["paths"]
    rows = run_suite(students_only(params, args.a, args.b),
                     EvaluatePaths(students=paths["students"], embeddings=paths["eval_embeddings"],
                                   tasks=paths["tasks"]), audio_config(params).sample_rate)
    named = {r.model: r for r in rows}
    for task, diff in differences(named[args.a], named[args.b]):
        text = "-" if diff is None else f"{100 * diff[0]:+.1f} ± {100 * diff[1]:.1f}"
        print(f"{task}: {args.a} - {args.b} = {text}")


if __name__ == "__main__":
    main()
