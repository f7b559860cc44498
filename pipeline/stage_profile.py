"""Where a `dvc repro` spends its time: one record per stage command, and the table printed at its end.

Every `ssondo` command that DVC runs (DVC sets `DVC_STAGE` and `DVC_ROOT` in a stage's environment) appends one
JSON line to `<DVC_ROOT>/.dvc/tmp/stage-profile.jsonl`: the stage, when it started, its wall time, the CPU time
of the process and of the children it waited for (DataLoader workers, sub-processes), its peak resident memory
and whether it succeeded. The `profile` stage, last in the pipeline, prints those records as a table and moves
them aside, so each `dvc repro` shows exactly the stages it ran. The log is scratch (DVC's own tmp folder), not
a pipeline output: stage results never depend on it.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import resource
import time
from pathlib import Path

LOG_NAME = "stage-profile.jsonl"
PRINTED_NAME = "stage-profile.printed.jsonl"


@dataclasses.dataclass(frozen=True)
class StageTiming:
    """One stage command: name, start (UTC, ISO), wall and CPU seconds, peak RSS (MiB), ok."""

    stage: str
    started: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    ok: bool


def log_dir(root: str | Path) -> Path:
    """DVC's scratch folder of the repository at `root`, where the records go."""
    return Path(root) / ".dvc" / "tmp"


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its waited-for children, so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mb() -> float:
    """Peak resident memory of this process or its largest waited-for child, MiB (Linux reports KiB)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return max(own.ru_maxrss, children.ru_maxrss) / 1024


class Stopwatch:
    """Started at construction; `timing(stage, ok)` gives the record up to now."""

    def __init__(self):
        self.started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.wall0, self.cpu0 = time.perf_counter(), cpu_seconds()

    def timing(self, stage: str, ok: bool) -> StageTiming:
        """The record of `stage` from the start to now."""
        return StageTiming(stage, self.started, time.perf_counter() - self.wall0, cpu_seconds() - self.cpu0,
                           peak_rss_mb(), ok)


def append(folder: str | Path, timing: StageTiming) -> None:
    """Add one record to the log in `folder` (one short line in append mode: records of parallel stages
    do not interleave)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    line = json.dumps(dataclasses.asdict(timing)) + "\n"
    with open(Path(folder) / LOG_NAME, "a") as fh:
        fh.write(line)


def read(path: str | Path) -> list[StageTiming]:
    """The records of a log file, in the order they were written; none when it does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    return [StageTiming(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def table(timings: list[StageTiming]) -> str:
    """Markdown: stage, wall, CPU, CPU/wall (cores busy), share of the summed wall time, peak RSS; then the total."""
    total = sum(t.wall_s for t in timings) or 1.0
    lines = ["| stage | wall | CPU | CPU / wall | share | peak RSS |", "|---|---:|---:|---:|---:|---:|"]
    for t in timings:
        mark = "" if t.ok else " (failed)"
        lines.append(f"| {t.stage}{mark} | {minutes(t.wall_s)} | {minutes(t.cpu_s)} | {t.cpu_s / max(t.wall_s, 1e-9):.2f} "
                     f"| {100 * t.wall_s / total:.0f}% | {t.peak_rss_mb:.0f} MiB |")
    wall, cpu = sum(t.wall_s for t in timings), sum(t.cpu_s for t in timings)
    lines.append(f"| **all {len(timings)} stages** | **{minutes(wall)}** | {minutes(cpu)} | "
                 f"{cpu / max(wall, 1e-9):.2f} | 100% | |")
    return "\n".join(lines)


def minutes(seconds: float) -> str:
    """`m:ss` of a duration."""
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def take(folder: str | Path) -> list[StageTiming]:
    """The records logged since the last `take`, which moves them to the printed log (replacing the older one)."""
    folder = Path(folder)
    timings = read(folder / LOG_NAME)
    if timings:
        os.replace(folder / LOG_NAME, folder / PRINTED_NAME)
    return timings
