"""Render jobs into FLAC files: the source registry, and shards of jobs in fresh worker processes."""
from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
from tqdm import tqdm

from pipeline.demo.clips import PITCH_TASK_FAMILIES, Clip, instrument_clip, pitch_clip, speech_clip, with_background
from pipeline.demo.config import DemoConfig
from pipeline.demo.detection import detection_scene
from pipeline.demo.events import event_clip
from pipeline.demo.instruments import GM_FAMILIES
from pipeline.demo.jobs import Job
from pipeline.demo.percussion import percussion_clip
from pipeline.demo.scenes import Speakers, scene_clip
from pipeline.demo.sentences import sentence_clip
from pipeline.demo.speakers import SPEAKER_CLASSES, speaker_clip, speaker_variants
from pipeline.demo.voices import split_variants, variants, voices

SHARD_SIZE = 64  # clips per worker process (espeak-ng state runs on within a shard, so this fixes the audio)
PHRASE_SHARE = 0.5  # corpus sentences: written phrases vs pseudo-sentences (held-out clips only speak the latter)


@dataclass(frozen=True)
class RenderSettings:
    """What every job of one build shares."""

    sample_rate: int
    clip_seconds: tuple[float, float]
    snr_db: tuple[float, float]
    corpus_variants: tuple[str, ...]  # espeak voice variants (speakers) of the corpus
    heldout_variants: tuple[str, ...]  # variants only the tasks use
    detection_seconds: float  # length of a detection scene

    def variants_for(self, job: Job) -> tuple[str, ...]:
        """The voice variants a job may speak with."""
        return self.heldout_variants if job.heldout_voice else self.corpus_variants


def settings_for(cfg: DemoConfig) -> RenderSettings:
    """Render settings of `cfg`, with voices split by whole variant families into corpus and held-out."""
    corpus, heldout = split_variants(variants(), cfg.heldout_voices, cfg.seed)
    return RenderSettings(cfg.sample_rate, cfg.clip_seconds, cfg.snr_db, corpus, heldout, cfg.detection_seconds)


def _style(job: Job) -> np.random.Generator | None:
    """The generator of a task clip's family parameters (None: the clip draws its own)."""
    return None if job.style is None else np.random.default_rng(job.style)


def _instrument(job: Job, s: RenderSettings, rng: np.random.Generator) -> Clip:
    family = None if job.label is None else GM_FAMILIES.index(job.label)
    program = None if family is None or job.family is None else family * 8 + job.family
    return instrument_clip(rng, s.clip_seconds, s.sample_rate, family, program)


def _speech(job: Job, s: RenderSettings, rng: np.random.Generator) -> Clip:
    return speech_clip(rng, voices(s.variants_for(job)), s.clip_seconds, s.sample_rate, job.label)


def _noisy_speech(job: Job, s: RenderSettings, rng: np.random.Generator) -> Clip:
    return with_background(_speech(job, s, rng), rng, s.snr_db, s.sample_rate)


def _sentences(job: Job, s: RenderSettings, rng: np.random.Generator) -> Clip:
    share = 0.0 if job.heldout_voice else PHRASE_SHARE
    return sentence_clip(rng, s.variants_for(job), s.clip_seconds, s.sample_rate, job.label, share)


def _scenes(job: Job, s: RenderSettings, rng: np.random.Generator) -> Clip:
    speakers = Speakers(voices(s.variants_for(job)), s.variants_for(job))
    return scene_clip(rng, s.clip_seconds, s.sample_rate, speakers)


def _pitch(job: Job, s: RenderSettings, rng: np.random.Generator) -> Clip:
    return pitch_clip(rng, s.clip_seconds, s.sample_rate, job.label, PITCH_TASK_FAMILIES[job.family])


def _speaker(job: Job, s: RenderSettings, rng: np.random.Generator) -> Clip:
    variant = speaker_variants(s.heldout_variants)[SPEAKER_CLASSES.index(job.label)]
    return speaker_clip(rng, variant, _style(job), s.clip_seconds, s.sample_rate)


def _detection(job: Job, s: RenderSettings, rng: np.random.Generator) -> Clip:
    return detection_scene(rng, s.detection_seconds, s.sample_rate, s.variants_for(job))


# source -> (job, settings, the job's generator) -> Clip; "pitch", "speaker" and "detection" render task clips only
SOURCES: dict[str, Callable[[Job, RenderSettings, np.random.Generator], Clip]] = {
    "instrument": _instrument,
    "speech": _speech,
    "noisy_speech": _noisy_speech,
    "percussion": lambda job, s, rng: percussion_clip(rng, s.clip_seconds, s.sample_rate, job.label, _style(job)),
    "events": lambda job, s, rng: event_clip(rng, s.clip_seconds, s.sample_rate, job.label, _style(job)),
    "sentences": _sentences,
    "scenes": _scenes,
    "pitch": _pitch,
    "speaker": _speaker,
    "detection": _detection,
}


def render_job(job: Job, settings: RenderSettings) -> Clip:
    """Draw and render one job's clip from its own seed."""
    return SOURCES[job.source](job, settings, np.random.default_rng(job.seed))


def shards(settings: RenderSettings, jobs: list[Job], root: Path) -> list[tuple[RenderSettings, list[Job], str]]:
    """`jobs` cut into SHARD_SIZE pieces that render below `root`."""
    return [(settings, jobs[i:i + SHARD_SIZE], str(root)) for i in range(0, len(jobs), SHARD_SIZE)]


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


def render_shards(shard_list: list[tuple[RenderSettings, list[Job], str]], workers: int) -> list[dict]:
    """Render every shard, each in a fresh process (reproducible espeak-ng state); rows in job order."""
    # forkserver children fork from a clean server, so no synthesiser state leaks in from this process
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        # import numpy/scipy/soundfile once in the server instead of once per shard process (synths stay lazy)
        ctx.set_forkserver_preload([__name__])
    n = max(1, min(workers or os.cpu_count() or 1, len(shard_list)))
    rows: list[dict] = []
    bar = tqdm(total=sum(len(s[1]) for s in shard_list), desc="demo", unit="clip", mininterval=1.0)
    with ctx.Pool(n, maxtasksperchild=1) as pool:
        for shard_rows in pool.imap(_render_shard, shard_list, chunksize=1):
            bar.update(len(shard_rows))
            rows.extend(shard_rows)
    bar.close()
    return rows
