"""Held-out task design: enough clips per class at scale 1, balanced families, task-only seeds; the detection
task's scenes."""
from dataclasses import replace

import pytest

from pipeline.demo.config import DemoConfig
from pipeline.demo.detection import SOUNDS
from pipeline.demo.events import EVENTS
from pipeline.demo.instruments import GM_FAMILIES, PITCH_CLASSES
from pipeline.demo.jobs import STREAMS, corpus_jobs
from pipeline.demo.percussion import KIT_PIECES
from pipeline.demo.phrases import LANGUAGES
from pipeline.demo.render import SOURCES
from pipeline.demo.speech import WORDS
from pipeline.demo.tasks import FAMILIES_PER_CLASS, TASKS, class_counts, task_jobs

CLIP_TASKS = sorted(t for t in TASKS if not TASKS[t].events)


@pytest.mark.parametrize("task", CLIP_TASKS)
def test_scale_one_has_at_least_30_clips_per_class(task):
    counts = class_counts(DemoConfig(), task)
    assert 5 <= len(counts) <= 10 and set(counts) == set(TASKS[task].classes)
    assert min(counts.values()) >= 30 and max(counts.values()) - min(counts.values()) <= 1


@pytest.mark.parametrize("task", CLIP_TASKS)
def test_each_class_spreads_over_its_families(task):
    jobs = task_jobs(DemoConfig(), task)
    for label in TASKS[task].classes:
        families = [j.family for j in jobs if j.label == label]
        assert set(families) == set(range(FAMILIES_PER_CLASS))
        assert max(families.count(f) for f in set(families)) - min(families.count(f) for f in set(families)) <= 1


def test_classes_exist_in_their_sources():
    assert set(TASKS["sound_event"].classes) <= set(EVENTS)
    assert set(TASKS["instrument_family"].classes) <= set(GM_FAMILIES)
    assert set(TASKS["language_id"].classes) <= set(LANGUAGES)
    assert set(TASKS["spoken_word_noise"].classes) <= set(WORDS)
    assert set(TASKS["drum_piece"].classes) <= set(KIT_PIECES)
    assert {PITCH_CLASSES.index(c) for c in TASKS["pitch"].classes} == {0, 1, 3, 4, 6, 7, 9, 10}  # octatonic
    assert set(TASKS["sound_event_detection"].classes) == set(SOUNDS)
    assert all(spec.source in SOURCES for spec in TASKS.values())


def test_task_seeds_never_meet_corpus_seeds():
    cfg = DemoConfig()
    corpus = {j.seed for j in corpus_jobs(cfg)}
    tasks = [j for t in TASKS for j in task_jobs(cfg, t)]
    assert corpus.isdisjoint(j.seed for j in tasks) and len({j.seed for j in tasks}) == len(tasks)
    styles = {j.style for j in tasks if j.style is not None}
    assert styles and {s[1] for s in styles} <= {STREAMS["sound_event_family"], STREAMS["drum_piece_family"],
                                                 STREAMS["speaker_family"]}
    assert all(j.heldout_voice == (j.source in ("sentences", "noisy_speech", "speaker", "detection")) for j in tasks)


def test_task_size_follows_scale():
    assert len(task_jobs(replace(DemoConfig(), scale=0.5), "drum_piece")) == 160
    assert [j.clip_id for j in task_jobs(DemoConfig(), "sound_event")][:2] == ["task_sound_event_00000",
                                                                              "task_sound_event_00001"]


def test_detection_scenes_follow_their_own_count_with_a_floor():
    jobs = task_jobs(DemoConfig(), "sound_event_detection")
    assert len(jobs) == DemoConfig().n_detection_clips and all(j.label is None for j in jobs)
    assert len(task_jobs(replace(DemoConfig(), scale=0.05), "sound_event_detection")) == 10  # grouped 5-fold
    assert task_jobs(replace(DemoConfig(), n_detection_clips=0), "sound_event_detection") == []
    assert len(task_jobs(replace(DemoConfig(), n_detection_clips=0), "pitch")) == 320
