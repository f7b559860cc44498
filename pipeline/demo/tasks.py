"""The held-out evaluation tasks: classes, grouping and the balanced jobs that render each one."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from pipeline.demo.clips import PITCH_TASK_CLASSES
from pipeline.demo.config import DemoConfig
from pipeline.demo.jobs import STREAMS, Job
from pipeline.demo.speakers import SPEAKER_CLASSES
from pipeline.demo.voices import parse_voice

FAMILIES_PER_CLASS = 8  # generator families (programs, kit sounds, event sources) a class is drawn from


@dataclass(frozen=True)
class TaskSpec:
    """One task: the corpus source rendering it, its classes, and the group of a rendered clip."""

    source: str
    classes: tuple[str, ...]
    group: Callable[[dict, Job], str]  # (rendered row, its job) -> group: never shared by train and test folds
    heldout_voice: bool = False  # spoken tasks use voices (and text) the corpus never has


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
}


def task_jobs(cfg: DemoConfig, task: str) -> list[Job]:
    """Balanced held-out jobs of one task: classes cycle, and each class cycles through its generator families."""
    spec, n = TASKS[task], cfg.count("task_clips")
    family_stream = STREAMS.get(f"{task}_family")
    jobs = []
    for i in range(n):
        label, family = i % len(spec.classes), (i // len(spec.classes)) % FAMILIES_PER_CLASS
        clip_id = f"task_{task}_{i:05d}"
        style = None if family_stream is None else (cfg.seed, family_stream, label, family)
        jobs.append(Job(clip_id, f"audio/{clip_id}.flac", spec.source, (cfg.seed, STREAMS[task], i),
                        spec.classes[label], family, style, spec.heldout_voice))
    return jobs


def class_counts(cfg: DemoConfig, task: str) -> Counter:
    """Clips per class of a task at `cfg`'s scale (without rendering)."""
    return Counter(job.label for job in task_jobs(cfg, task))


def task_manifest(rows: list[dict], jobs: list[Job], task: str) -> pd.DataFrame:
    """A task manifest: path, clip_id, label (the class) and group (for grouped splits), one row per job."""
    group = TASKS[task].group
    return pd.DataFrame({"path": [j.path for j in jobs], "clip_id": [j.clip_id for j in jobs],
                         "label": [j.label for j in jobs], "group": [group(r, j) for r, j in zip(rows, jobs)]})
