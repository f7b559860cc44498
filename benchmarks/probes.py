"""Evaluate's probes fitted in one process vs side by side in `evaluate.probe.jobs` processes.

    python -m benchmarks.probes A B [--params params.yaml] [--jobs 2] [--repeats 1]

Two students of one project (as `benchmarks.paired`: their task embeddings cached by `evaluate`, so no forward pass
runs and the time is the probes'), probed on every task with `jobs: 1` and with `--jobs`, taking turns; prints the
wall time of each (median of `--repeats`), their ratio, and checks that every fold's score is the same both ways.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np

from benchmarks.common import machine, print_measures
from benchmarks.paired import students_only
from pipeline.evaluate.rows import ModelRow
from pipeline.evaluate.suite import EvaluateConfig, EvaluatePaths, run_suite
from stages.params import audio_config, read_params


def with_jobs(cfg: EvaluateConfig, jobs: int) -> EvaluateConfig:
    """`cfg` with its probes fitted in `jobs` processes."""
    return dataclasses.replace(cfg, probe=dataclasses.replace(cfg.probe, jobs=jobs))


def timed(cfg: EvaluateConfig, paths: EvaluatePaths, rate: int) -> tuple[float, list[ModelRow]]:
    """Wall seconds of one probe suite, and its rows."""
    start = time.perf_counter()
    rows = run_suite(cfg, paths, rate, log=lambda *_: None)
    return time.perf_counter() - start, rows


def same_folds(first: list[ModelRow], second: list[ModelRow]) -> bool:
    """Every model's every task has the same fold scores in both runs."""
    return all(a.model == b.model and a.folds.keys() == b.folds.keys()
               and all(np.array_equal(a.folds[t], b.folds[t]) for t in a.folds) for a, b in zip(first, second))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    params = read_params(args.params)
    paths = EvaluatePaths(students=params["paths"]["students"], embeddings=params["paths"]["eval_embeddings"],
                          tasks=params["paths"]["tasks"])
    rate = audio_config(params).sample_rate
    base = students_only(params, args.a, args.b)
    walls: dict[int, list[float]] = {1: [], args.jobs: []}
    rows: dict[int, list[ModelRow]] = {}
    timed(with_jobs(base, 1), paths, rate)  # warm: task files and embeddings read once before timing
    for _ in range(args.repeats):
        for jobs in walls:
            wall, rows[jobs] = timed(with_jobs(base, jobs), paths, rate)
            walls[jobs].append(wall)
    serial, parallel = (statistics.median(walls[j]) for j in walls)
    print(f"machine: {machine()}")
    print_measures([("probes, 1 process (s)", f"{serial:.1f}", ""),
                    (f"probes, {args.jobs} processes (s)", f"{parallel:.1f}", ""),
                    ("speed-up", f"{serial / parallel:.2f}x", "> 1 on 2 quiet cores"),
                    ("same fold scores", str(same_folds(rows[1], rows[args.jobs])), "True")])


if __name__ == "__main__":
    main()
