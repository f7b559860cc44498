"""`ssondo profile`: the per-stage time table of the `dvc repro` that just ran (its last stage)."""
from __future__ import annotations

import os

import click

from pipeline import stage_profile


@click.command("profile")
@click.option("--root", default=None, help="Repository whose stage records to print [default: DVC_ROOT, else .].")
@click.option("--keep", is_flag=True, help="Print without moving the records aside (they show again next time).")
def main(root: str | None, keep: bool) -> None:
    """Print wall time, CPU time, share and peak memory of each stage command run since the last profile."""
    folder = stage_profile.log_dir(root or os.environ.get("DVC_ROOT") or ".")
    timings = stage_profile.read(folder / stage_profile.LOG_NAME) if keep else stage_profile.take(folder)
    if not timings:
        click.echo("profile: no stage ran since the last profile (nothing changed)")
        return
    click.echo("Where this `dvc repro` spent its time:\n" + stage_profile.table(timings))
