"""The held-out evaluation tasks: classes, grouping and the jobs that render each one (balanced by class for the
clip tasks; the detection task's scenes each hold several classes, annotated in time)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from pipeline.demo.clips import PITCH_TASK_CLASSES
from pipeline.demo.config import DemoConfig
from pipeline.demo.detection import DETECTION_CLASSES
from pipeline.demo.jobs import STREAMS, Job
from pipeline.demo.speakers import SPEAKER_CLASSES
from pipeline.demo.voices import parse_voice

FAMILIES_PER_CLASS = 8  # generator families (programs, kit sounds, event sources) a class is drawn from


@dataclass(frozen=True)
class TaskSpec:
    """One task: the source rendering it, its classes, and the group of a rendered clip."""

    source: str
    classes: tuple[str, ...]
    group: Callable[[dict, Job], str]  # (rendered row, its job) -> group: never shared by train and test folds
    heldout_voice: bool = False  # spoken tasks use voices (and text) the corpus never has
    count: str = "task_clips"  # its clip count in DemoConfig (`n_<count>`)
    min_clips: int = 1  # fewest clips at any scale (a nonzero count)
    events: bool = False  # clips hold timed events of several classes (rows of `events`), not one class each


def _family(row: dict, job: Job) -> str:
    return f"{job.label}/{job.family}"


def _speaker(row: dict, job: Job) -> str:
    # the variant is the speaker timbre; grouping by it keeps a speaker's every dialect/language in one fold
    return parse_voice(row["voice"])[1]


TASKS = {
    "sound_event": TaskSpec("events", ("alarm", "bird", "engine", "impact", "rain", "siren", "water", "wind"),
                            _family),
    "instrument_family": TaskSpec("instrument", ("piano", "organ", "guitar", "bass", "strings", "brass", "reed",
                                                 "pipe"), lambda row, job: str(row["program"])),
    "language_id": TaskSpec("sentences", ("de", "en", "es", "fr", "hi", "it", "pl", "ru"), _speaker, True),
    "spoken_word_noise": TaskSpec("noisy_speech", ("yes", "no", "up", "down", "left", "right", "stop", "go"),
                                  _speaker, True),
    "drum_piece": TaskSpec("percussion", ("kick", "snare", "closed_hihat", "open_hihat", "tom", "crash", "clap",
                                          "cowbell"), _family),
    # pitch class across octaves and instruments; grouped by GM family, so test folds play unseen instruments
    "pitch": TaskSpec("pitch", PITCH_TASK_CLASSES, lambda row, job: str(row["family"])),
    # which of 8 held-out voices speaks; grouped by session (accent, pitch, rate), so test folds are unseen sessions
    "speaker": TaskSpec("speaker", SPEAKER_CLASSES, lambda row, job: f"session{job.family}", True),
    # which kinds of sound sound when, in scenes of demo.detection_seconds; a scene is its own group (its
    # segments stay in one fold); at least 10 scenes, so that a grouped 5-fold split has two per test fold
    "sound_event_detection": TaskSpec("detection", DETECTION_CLASSES, lambda row, job: job.clip_id, True,
                                      "detection_clips", 10, events=True),
}


def task_jobs(cfg: DemoConfig, task: str) -> list[Job]:
    """Held-out jobs of one task. Clip tasks are balanced: classes cycle, and each class cycles through its
    generator families; the detection task's scenes draw their classes freely."""
    spec, count = TASKS[task], cfg.count(TASKS[task].count)
    n = max(count, spec.min_clips) if count else 0
    if spec.events:
        return [_job(cfg, task, i) for i in range(n)]
    family_stream = STREAMS.get(f"{task}_family")
    jobs = []
    for i in range(n):
        label, family = i % len(spec.classes), (i // len(spec.classes)) % FAMILIES_PER_CLASS
        style = None if family_stream is None else (cfg.seed, family_stream, label, family)
        jobs.append(_job(cfg, task, i, spec.classes[label], family, style))
    return jobs


def _job(cfg: DemoConfig, task: str, i: int, label: str | None = None, family: int | None = None,
         style: tuple[int, ...] | None = None) -> Job:
    """The i-th job of `task`, drawn from the task's own seed stream."""
    spec, clip_id = TASKS[task], f"task_{task}_{i:05d}"
    return Job(clip_id, f"audio/{clip_id}.flac", spec.source, (cfg.seed, STREAMS[task], i), label, family, style,
               spec.heldout_voice)


def class_counts(cfg: DemoConfig, task: str) -> Counter:
    """Clips per class of a task at `cfg`'s scale (without rendering)."""
    return Counter(job.label for job in task_jobs(cfg, task))


def task_manifest(rows: list[dict], jobs: list[Job], task: str) -> pd.DataFrame:
    """A task manifest: path, clip_id, label (the class; a detection scene: its classes, comma-separated) and
    group (for grouped splits), one row per job."""
    spec = TASKS[task]
    labels = [",".join(sorted({e[2] for e in r["events"]})) for r in rows] if spec.events else [j.label for j in jobs]
    return pd.DataFrame({"path": [j.path for j in jobs], "clip_id": [j.clip_id for j in jobs],
                         "label": labels, "group": [spec.group(r, j) for r, j in zip(rows, jobs)]})


def task_events(rows: list[dict], jobs: list[Job]) -> pd.DataFrame:
    """The annotations of a detection task: path (as in its manifest), onset and offset (s) and label, one row
    per event, clips in job order."""
    records = [{"path": j.path, "onset": on, "offset": off, "label": label}
               for r, j in zip(rows, jobs) for on, off, label in r["events"]]
    return pd.DataFrame.from_records(records, columns=["path", "onset", "offset", "label"])
