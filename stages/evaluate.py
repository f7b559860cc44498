"""`ssondo evaluate`: linear probes on downstream tasks for teacher, students and baselines; the retention table."""
from __future__ import annotations

import click

from pipeline.config import ConfigError, parse
from pipeline.evaluate.report import write_report
from pipeline.evaluate.suite import EvaluateConfig, EvaluatePaths, run_suite
from pipeline.evaluate.tasks import TaskError
from stages.params import audio_config, params_option, read_params, section, set_threads


@click.command("evaluate")
@params_option
@click.option("--tasks", default=None, help="Folder of the built-in demo tasks (when evaluate.builtin_tasks).")
@click.option("--students", required=True, help="Folder of the student folders named in evaluate.students/supervised.")
@click.option("--embedding-cache", "--embeddings", "embedding_cache", required=True,
              help="Cache folder of task embeddings, reused across runs (--embeddings: the older name).")
@click.option("--out", required=True, help="Folder for results.csv, report.md, plots.")
def main(params_file: str, tasks: str | None, students: str, embedding_cache: str, out: str) -> None:
    """Probe frozen embeddings of every model on the downstream tasks and write the retention table."""
    params = read_params(params_file)
    set_threads(params)
    audio = audio_config(params)
    data = section(params, "evaluate")
    data.setdefault("window_seconds", audio.window_seconds)
    data.setdefault("teacher_options", (params.get("embed") or {}).get("options") or {})
    try:
        cfg = parse(EvaluateConfig, data, "evaluate")
        paths = EvaluatePaths(students=students, embeddings=embedding_cache, tasks=tasks)
        rows = run_suite(cfg, paths, audio.sample_rate, log=click.echo)
    except (ConfigError, TaskError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(write_report(rows, out))


if __name__ == "__main__":
    main()
