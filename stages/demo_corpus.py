"""`ssondo demo-corpus`: synthesise the offline demo corpus and its held-out evaluation tasks."""
from __future__ import annotations

import time
from pathlib import Path

import click
import pandas as pd

from pipeline.config import ConfigError, parse
from pipeline.demo.build import build_demo_corpus, build_tasks, separate_folders
from pipeline.demo.config import DemoConfig
from stages.params import params_option, read_params, section, write_json


@click.command("demo-corpus")
@params_option
@click.option("--output", required=True, help="Corpus folder (FLAC + manifest.csv).")
@click.option("--tasks-output", required=True, help="Held-out evaluation tasks folder.")
@click.option("--scale", type=float, default=None, help="Multiplier of every clip count (overrides demo.scale).")
@click.option("--workers", type=int, default=None, help="Render processes (0 = all cores).")
def main(params_file: str, output: str, tasks_output: str, scale: float | None,
         workers: int | None) -> None:
    """Render the offline demo corpus (instruments, drum kits, sound events, multilingual speech, scenes) into
    FLAC + manifest.csv, plus the held-out tasks."""
    params = read_params(params_file)
    data = section(params, "demo", scale=scale, workers=workers)
    try:
        cfg = parse(DemoConfig, data, "demo")
        separate_folders(output, tasks_output)
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    start = time.perf_counter()
    try:
        manifest_path = build_demo_corpus(cfg, output)
        tasks = build_tasks(cfg, tasks_output)
    except (FileExistsError, FileNotFoundError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    hours = manifest["seconds"].astype(float).sum() / 3600
    click.echo(f"demo-corpus: {len(manifest)} clips ({manifest['source'].value_counts().to_dict()}), {hours:.2f} h "
               f"-> {manifest_path}")
    sizes = {task: len(pd.read_csv(path)) for task, path in tasks.items()}
    click.echo(f"demo-corpus: tasks {sizes} -> {tasks_output} ({time.perf_counter() - start:.1f} s)")
    write_json(Path(output) / "metrics.json", {"clips": len(manifest), "hours": hours,
                                                   **{f"task_{t}": n for t, n in sizes.items()}})


if __name__ == "__main__":
    main()
