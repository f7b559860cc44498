"""Build the demo corpus (FLAC + manifest.csv) and the held-out evaluation tasks, in fresh worker processes."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.demo.config import DemoConfig
from pipeline.demo.instruments import GM_FAMILIES, PITCH_CLASSES
from pipeline.demo.jobs import STREAMS, Job, corpus_jobs
from pipeline.demo.render import render_shards, settings_for, shards
from pipeline.demo.tags import tags
from pipeline.demo.tasks import TASKS, task_events, task_jobs, task_manifest

# label columns: "" where they do not apply to a clip's source; a scene's parts are only in `parts` and `labels`
CORPUS_COLUMNS = ("path", "clip_id", "source", "family", "program", "pitch", "pitch_class", "kit", "kit_piece",
                  "event", "word", "text", "voice", "language", "background", "parts", "labels", "split")
TASK_COLUMNS = ("path", "clip_id", "label", "group")


def corpus_manifest(rows: list[dict], seed: int, valid_fraction: float) -> pd.DataFrame:
    """The corpus manifest: label columns as text ("" where they do not apply), tags, and a seeded split."""
    df = pd.DataFrame(rows)
    df["labels"] = [tags(row["source"], row) for row in rows]
    df = df.drop(columns="scene_tags", errors="ignore")  # a scene's tags are its `labels`
    for col in CORPUS_COLUMNS:
        if col not in df.columns:
            df[col] = None
    df["family"] = df["family"].map(lambda v: "" if pd.isna(v) else GM_FAMILIES[int(v)])
    df["pitch_class"] = df["pitch_class"].map(lambda v: "" if pd.isna(v) else PITCH_CLASSES[int(v)])
    for col in ("program", "pitch"):
        df[col] = df[col].map(lambda v: "" if pd.isna(v) else str(int(v)))
    df = df.astype(object).where(df.notna(), "")
    draws = np.random.default_rng([seed, STREAMS["split"]]).random(len(df))
    df["split"] = np.where(draws < valid_fraction, "valid", "train")
    extra = [c for c in df.columns if c not in CORPUS_COLUMNS]
    return df[list(CORPUS_COLUMNS) + extra]


def _start(folder: Path, marker: str) -> Path:
    """A fresh `<folder>.partial` to build into; refuses to later replace a folder that is not a demo build."""
    if folder.exists() and any(folder.iterdir()) and not (folder / marker).exists():
        raise FileExistsError(f"{folder} exists, is not empty and has no {marker}: refusing to replace it")
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def _publish(partial: Path, folder: Path) -> None:
    """Swap the finished build in, so an interrupted build never leaves a half-written folder behind."""
    if folder.exists():
        shutil.rmtree(folder)
    partial.rename(folder)


def separate_folders(corpus_dir: str | Path, tasks_dir: str | Path) -> None:
    """Refuse a tasks folder that is, contains or lies inside the corpus folder: each build replaces its folder."""
    out, tasks = Path(corpus_dir).resolve(), Path(tasks_dir).resolve()
    if out == tasks or out.is_relative_to(tasks) or tasks.is_relative_to(out):
        raise ValueError(f"demo tasks folder {tasks_dir} must not be, contain or lie inside the corpus folder "
                         f"{corpus_dir}: each build replaces its whole folder")


def build_demo_corpus(cfg: DemoConfig, out: str | Path) -> Path:
    """Render the corpus into folder `out` (FLAC under one folder per source); returns its manifest.csv."""
    out = Path(out)
    partial = _start(out, "manifest.csv")
    rows = render_shards(shards(settings_for(cfg), corpus_jobs(cfg), partial), cfg.workers)
    corpus_manifest(rows, cfg.seed, cfg.valid_fraction).to_csv(partial / "manifest.csv", index=False)
    _publish(partial, out)
    return out / "manifest.csv"


def _write_task(rows: list[dict], jobs: list[Job], task: str, folder: Path) -> dict:
    """Write a rendered task's manifest.csv (and events.csv); its entry in the index tasks.json."""
    manifest = task_manifest(rows, jobs, task)
    manifest.to_csv(folder / "manifest.csv", index=False)
    entry = {"manifest": f"{task}/manifest.csv", "clips": len(manifest), "classes": int(manifest["label"].nunique()),
             "groups": int(manifest["group"].nunique())}
    if TASKS[task].events:
        events = task_events(rows, jobs)
        events.to_csv(folder / "events.csv", index=False)
        entry.update(events=f"{task}/events.csv", classes=int(events["label"].nunique()), annotations=len(events))
    return entry


def build_tasks(cfg: DemoConfig, out: str | Path) -> dict[str, Path]:
    """Render the held-out tasks into `out/<task>/` (audio/ + manifest.csv, and events.csv for the detection
    task); task -> manifest."""
    out = Path(out)
    partial = _start(out, "tasks.json")
    settings = settings_for(cfg)
    jobs = {task: listed for task in TASKS if (listed := task_jobs(cfg, task))}
    shard_list = []
    for task, task_list in jobs.items():
        snr = (cfg.task_snr_db, cfg.task_snr_db) if task == "spoken_word_noise" else settings.snr_db
        shard_list += shards(replace(settings, snr_db=snr), task_list, partial / task)
    rows, index = render_shards(shard_list, cfg.workers), {}
    for task, task_list in jobs.items():
        index[task] = _write_task(rows[:len(task_list)], task_list, task, partial / task)
        rows = rows[len(task_list):]
    # in TASKS order (not sorted): the report lists the tasks as the index does
    (partial / "tasks.json").write_text(json.dumps(index, indent=2) + "\n")
    _publish(partial, out)
    return {task: out / task / "manifest.csv" for task in index}
