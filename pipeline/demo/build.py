"""Build the demo corpus (FLAC + manifest.csv) and the held-out evaluation tasks, in fresh worker processes."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from pipeline.demo.clips import Clip, instrument_clip, speech_clip, with_background
from pipeline.demo.config import DemoConfig
from pipeline.demo.instruments import GM_FAMILIES, PITCH_CLASSES
from pipeline.demo.speech import WORDS
from pipeline.demo.voices import split_variants, variants, voices

SHARD_SIZE = 64  # clips per worker process (espeak-ng state runs on within a shard, so this fixes the audio)
# seed streams: corpus and tasks never share one, so no task clip repeats a corpus draw
STREAMS = {"instrument": 1, "speech": 2, "noisy_speech": 3, "split": 4,
           "instrument_family": 11, "pitch_class": 12, "spoken_word": 13, "spoken_word_noise": 13}
TASKS = ("instrument_family", "pitch_class", "spoken_word", "spoken_word_noise")
CORPUS_COLUMNS = ("path", "clip_id", "source", "family", "program", "pitch", "pitch_class", "word", "voice",
                  "language", "labels", "split")
TASK_COLUMNS = ("path", "clip_id", "label", "group")


@dataclass(frozen=True)
class Job:
    """One clip to render: where it goes, its seed and the label it is drawn for (None = drawn freely)."""

    clip_id: str
    path: str
    source: str
    seed: tuple[int, ...]
    family: int | None = None
    pitch_class: int | None = None
    word: str | None = None
    heldout_voice: bool = False


@dataclass(frozen=True)
class RenderSettings:
    """What every job of one build shares."""

    sample_rate: int
    clip_seconds: tuple[float, float]
    snr_db: tuple[float, float]
    corpus_voices: tuple[str, ...]
    heldout_voices: tuple[str, ...]


def settings_for(cfg: DemoConfig) -> RenderSettings:
    """Render settings of `cfg`, with voices split by whole variant families into corpus and held-out."""
    corpus, heldout = split_variants(variants(), cfg.heldout_voices, cfg.seed)
    return RenderSettings(cfg.sample_rate, cfg.clip_seconds, cfg.snr_db, voices(corpus), voices(heldout))


def render_job(job: Job, settings: RenderSettings) -> Clip:
    """Draw and render one job's clip from its own seed."""
    rng = np.random.default_rng(job.seed)
    rate, seconds = settings.sample_rate, settings.clip_seconds
    if job.source == "instrument":
        return instrument_clip(rng, seconds, rate, job.family, job.pitch_class)
    pool = settings.heldout_voices if job.heldout_voice else settings.corpus_voices
    clip = speech_clip(rng, pool, seconds, rate, job.word)
    return with_background(clip, rng, settings.snr_db, rate) if job.source == "noisy_speech" else clip


def _render_shard(args: tuple[RenderSettings, list[Job], str]) -> list[dict]:
    settings, jobs, root = args
    rows = []
    for job in jobs:
        clip = render_job(job, settings)
        target = Path(root) / job.path
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(target, clip.audio, settings.sample_rate, format="FLAC", subtype="PCM_16")
        rows.append({"path": job.path, "clip_id": job.clip_id, "source": job.source,
                     "seconds": round(len(clip.audio) / settings.sample_rate, 4), **clip.labels})
    return rows


def render_shards(shards: list[tuple[RenderSettings, list[Job], str]], workers: int) -> list[dict]:
    """Render every shard, each in a fresh process (reproducible espeak-ng state); rows in job order."""
    # forkserver children fork from a clean server, so no synthesiser state leaks in from this process
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        # import numpy/pandas/soundfile once in the server instead of once per shard process (synths stay lazy)
        ctx.set_forkserver_preload([__name__])
    n = max(1, min(workers or os.cpu_count() or 1, len(shards)))
    rows: list[dict] = []
    bar = tqdm(total=sum(len(s[1]) for s in shards), desc="demo", unit="clip", mininterval=1.0)
    with ctx.Pool(n, maxtasksperchild=1) as pool:
        for shard_rows in pool.imap(_render_shard, shards, chunksize=1):
            bar.update(len(shard_rows))
            rows.extend(shard_rows)
    bar.close()
    return rows


def _shards(settings: RenderSettings, jobs: list[Job], root: Path) -> list[tuple[RenderSettings, list[Job], str]]:
    return [(settings, jobs[i:i + SHARD_SIZE], str(root)) for i in range(0, len(jobs), SHARD_SIZE)]


def corpus_jobs(cfg: DemoConfig) -> list[Job]:
    """The corpus clips: free draws of instrument notes, spoken words and noisy spoken words."""
    jobs = []
    for source in ("instrument", "speech", "noisy_speech"):
        for i in range(cfg.count(source if source != "noisy_speech" else "noisy")):
            clip_id = f"{source}_{i:05d}"
            jobs.append(Job(clip_id, f"{source}/{clip_id}.flac", source, (cfg.seed, STREAMS[source], i)))
    return jobs


def task_jobs(cfg: DemoConfig, task: str) -> list[Job]:
    """Balanced held-out jobs of one task (labels cycle through the classes), from the task's own seed stream."""
    n = cfg.count("task_instrument" if task in ("instrument_family", "pitch_class") else "task_speech")
    jobs = []
    for i in range(n):
        clip_id = f"task_{task}_{i:05d}"
        base = Job(clip_id, f"audio/{clip_id}.flac", "instrument", (cfg.seed, STREAMS[task], i))
        if task == "instrument_family":
            jobs.append(replace(base, family=i % len(GM_FAMILIES)))
        elif task == "pitch_class":
            jobs.append(replace(base, pitch_class=i % 12))
        else:
            source = "noisy_speech" if task == "spoken_word_noise" else "speech"
            jobs.append(replace(base, source=source, word=WORDS[i % len(WORDS)], heldout_voice=True))
    return jobs


def corpus_manifest(rows: list[dict], seed: int, valid_fraction: float) -> pd.DataFrame:
    """The corpus manifest: label columns as text ("" where they do not apply), tags, and a seeded split."""
    df = pd.DataFrame(rows)
    for col in CORPUS_COLUMNS:
        if col not in df.columns:
            df[col] = None
    df["family"] = df["family"].map(lambda v: "" if pd.isna(v) else GM_FAMILIES[int(v)])
    df["pitch_class"] = df["pitch_class"].map(lambda v: "" if pd.isna(v) else PITCH_CLASSES[int(v)])
    for col in ("program", "pitch"):
        df[col] = df[col].map(lambda v: "" if pd.isna(v) else str(int(v)))
    df = df.astype(object).where(df.notna(), "")
    df["labels"] = [_tags(r) for r in df.itertuples()]
    draws = np.random.default_rng([seed, STREAMS["split"]]).random(len(df))
    df["split"] = np.where(draws < valid_fraction, "valid", "train")
    extra = [c for c in df.columns if c not in CORPUS_COLUMNS]
    return df[list(CORPUS_COLUMNS) + extra]


def _tags(row) -> str:
    """AudioSet-style label list: ";"-joined "kind:value" tags."""
    if row.source == "instrument":
        return f"family:{row.family};pitch_class:{row.pitch_class}"
    tags = f"word:{row.word}"
    return f"{tags};background:{row.background}" if row.source == "noisy_speech" else tags


def task_manifest(rows: list[dict], task: str) -> pd.DataFrame:
    """A task manifest: path, clip_id, label (the class) and group (program or voice, for grouped splits)."""
    df = pd.DataFrame(rows)
    if task == "instrument_family":
        label, group = df["family"].map(lambda v: GM_FAMILIES[int(v)]), df["program"].astype(int).astype(str)
    elif task == "pitch_class":
        label, group = df["pitch_class"].map(lambda v: PITCH_CLASSES[int(v)]), df["program"].astype(int).astype(str)
    else:
        label, group = df["word"], df["voice"]
    return pd.DataFrame({"path": df["path"], "clip_id": df["clip_id"], "label": label, "group": group})


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


def build_demo_corpus(cfg: DemoConfig) -> Path:
    """Render the corpus into `cfg.output` (FLAC under instrument/, speech/, noisy_speech/); returns manifest.csv."""
    out = Path(cfg.output)
    partial = _start(out, "manifest.csv")
    shards = _shards(settings_for(cfg), corpus_jobs(cfg), partial)
    manifest = corpus_manifest(render_shards(shards, cfg.workers), cfg.seed, cfg.valid_fraction)
    manifest.to_csv(partial / "manifest.csv", index=False)
    _publish(partial, out)
    return out / "manifest.csv"


def build_tasks(cfg: DemoConfig) -> dict[str, Path]:
    """Render the held-out tasks into `cfg.tasks_output/<task>/` (audio/ + manifest.csv); task -> manifest."""
    out = Path(cfg.tasks_output)
    partial = _start(out, "tasks.json")
    settings = settings_for(cfg)
    jobs = {task: task_jobs(cfg, task) for task in TASKS if task_jobs(cfg, task)}
    shards = []
    for task, task_list in jobs.items():
        snr = (cfg.task_snr_db, cfg.task_snr_db) if task == "spoken_word_noise" else settings.snr_db
        shards += _shards(replace(settings, snr_db=snr), task_list, partial / task)
    rows, index = render_shards(shards, cfg.workers), {}
    for task, task_list in jobs.items():
        manifest = task_manifest(rows[:len(task_list)], task)
        rows = rows[len(task_list):]
        manifest.to_csv(partial / task / "manifest.csv", index=False)
        index[task] = {"manifest": f"{task}/manifest.csv", "clips": len(manifest),
                       "classes": int(manifest["label"].nunique()), "groups": int(manifest["group"].nunique())}
    (partial / "tasks.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    _publish(partial, out)
    return {task: out / task / "manifest.csv" for task in index}
