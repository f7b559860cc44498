"""Render jobs: one clip each, drawn from its own seed; the corpus's jobs and the seed streams of every draw."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.demo.config import DemoConfig

# seed streams: every corpus source and every task has its own, so no task clip repeats a corpus draw.
# Seeds are (demo.seed, stream, index). numpy's SeedSequence ignores trailing zeros ((s, 5, 0) == (s, 5)), so
# no stream is used bare by anything else (7 is the voice split of voices.py), and a task's generator families
# get streams of their own: (seed, family stream, class, family).
STREAMS = {"instrument": 1, "speech": 2, "noisy_speech": 3, "split": 4, "percussion": 5, "events": 6,
           "scenes": 8, "sentences": 9,
           "sound_event": 11, "instrument_family": 12, "language_id": 13, "spoken_word_noise": 14, "drum_piece": 15,
           "pitch": 16, "speaker": 17, "sound_event_detection": 18,
           "sound_event_family": 21, "drum_piece_family": 25, "speaker_family": 27}
# corpus source -> its count in DemoConfig (`n_<count>`)
SOURCE_COUNTS = {"instrument": "instrument", "speech": "speech", "noisy_speech": "noisy", "percussion": "percussion",
                 "events": "events", "sentences": "sentences", "scenes": "scenes"}


@dataclass(frozen=True)
class Job:
    """One clip to render: where it goes, its seed, and for task clips the class and generator family."""

    clip_id: str
    path: str
    source: str
    seed: tuple[int, ...]
    label: str | None = None  # the class the clip is drawn for (None = drawn freely)
    family: int | None = None  # which of the class's generator families (program, kit sound, event source)
    style: tuple[int, ...] | None = None  # seed of that family's parameters (shared by its clips)
    heldout_voice: bool = False


def corpus_jobs(cfg: DemoConfig) -> list[Job]:
    """The corpus clips: free draws of every source, `cfg.count(...)` each, in SOURCE_COUNTS order."""
    jobs = []
    for source, count in SOURCE_COUNTS.items():
        for i in range(cfg.count(count)):
            clip_id = f"{source}_{i:05d}"
            jobs.append(Job(clip_id, f"{source}/{clip_id}.flac", source, (cfg.seed, STREAMS[source], i)))
    return jobs
