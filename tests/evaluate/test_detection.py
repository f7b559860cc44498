"""Detection tasks: segment grid, segment labels on a hand example, events checks, rows grouped by clip."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from eval_audio import RATE

from pipeline.config import ConfigError, parse
from pipeline.evaluate.detection import DetectionConfig, load_detection_task, segment_bounds, segment_labels
from pipeline.evaluate.splits import task_splits
from pipeline.evaluate.tasks import TaskConfig, TaskError, demo_tasks

SECONDS = {"a.wav": 2.5, "b.wav": 1.0, "c.wav": 2.0, "d.wav": 3.0}
EVENTS = """path,onset,offset,label
a.wav,0.2,0.4,dog
a.wav,1.9,2.1,dog
a.wav,0.0,2.5,rain
b.wav,0.5,0.6,car
c.wav,1.0,2.0,car
d.wav,0.0,1.0,dog
"""


def test_segments_cover_the_clip_back_to_back():
    np.testing.assert_allclose(segment_bounds(2.5, 1.0), [[0, 1], [1, 2], [2, 2.5]])
    np.testing.assert_allclose(segment_bounds(0.3, 1.0), [[0, 0.3]])
    assert len(segment_bounds(3.0, 1.0)) == 3 and len(segment_bounds(3.0, 0.1)) == 30  # no sliver from rounding


def test_a_class_is_active_where_one_of_its_events_overlaps_the_segment():
    events = pd.DataFrame({"onset": [0.2, 1.9, 0.0, 1.0], "offset": [0.4, 2.1, 3.0, 2.0],
                           "label": ["a", "a", "b", "c"]})
    hot = segment_labels(events, segment_bounds(3.0, 1.0), ("a", "b", "c"))
    # a: inside segment 0, and across the 1|2 boundary; b everywhere; c exactly fills segment 1 (touching is no
    # overlap)
    np.testing.assert_array_equal(hot, [[1, 1, 0], [1, 1, 1], [1, 1, 0]])
    half = segment_labels(events, segment_bounds(3.0, 0.5), ("a", "b", "c"))
    np.testing.assert_array_equal(half[:, 0], [1, 0, 0, 1, 1, 0])


@pytest.fixture
def detection_task(tmp_path: Path) -> TaskConfig:
    """Four clips of 1-3 s with events of three classes (manifest without groups)."""
    for name, seconds in SECONDS.items():
        sf.write(tmp_path / name, np.zeros(int(seconds * RATE), dtype=np.float32), RATE)
    labels = {"a.wav": "dog,rain", "b.wav": "car", "c.wav": "car", "d.wav": "dog"}
    (tmp_path / "m.csv").write_text("path,label\n" + "".join(f"{p},\"{lab}\"\n" for p, lab in labels.items()))
    (tmp_path / "events.csv").write_text(EVENTS)
    return TaskConfig(name="det", path=str(tmp_path / "m.csv"), metric="micro_f1", n_folds=2,
                      events=str(tmp_path / "events.csv"))


def test_rows_are_segments_labelled_and_grouped_by_clip(detection_task: TaskConfig):
    task = load_detection_task(detection_task, 1.0)
    assert task.classes == ("car", "dog", "rain") and task.multilabel and task.grouped
    assert task.protocol == "group_kfold" and task.n_clips == 3 + 1 + 2 + 3
    assert list(task.ids) == ["a.wav"] * 3 + ["b.wav"] + ["c.wav"] * 2 + ["d.wav"] * 3
    np.testing.assert_allclose(task.segments[:3], [[0, 1], [1, 2], [2, 2.5]])
    np.testing.assert_array_equal(task.labels, [[0, 1, 1], [0, 1, 1], [0, 1, 1], [1, 0, 0], [0, 0, 0], [1, 0, 0],
                                                [0, 1, 0], [0, 0, 0], [0, 0, 0]])
    assert len(set(task.groups)) == 4
    for train, test in task_splits(task, seed=0):
        assert set(task.groups[train]).isdisjoint(task.groups[test])  # a clip's segments stay on one side


def test_the_fingerprint_follows_the_resolution(detection_task: TaskConfig):
    one, again = load_detection_task(detection_task, 1.0), load_detection_task(detection_task, 1.0)
    half = load_detection_task(detection_task, 0.5)
    assert one.fingerprint == again.fingerprint != half.fingerprint and half.n_clips == 5 + 2 + 4 + 6


@pytest.mark.parametrize("events, message", [
    ("path,onset,label\na.wav,0,dog\n", "offset"),
    ("path,onset,offset,label\na.wav,1.0,0.5,dog\nb.wav,0,1,car\n", "0 <= onset < offset"),
    ("path,onset,offset,label\nz.wav,0,1,dog\na.wav,0,1,car\n", "not in the manifest"),
    ("path,onset,offset,label\na.wav,0,1,dog\n", "at least 2 classes"),
])
def test_bad_events_name_the_file(detection_task: TaskConfig, events: str, message: str):
    Path(detection_task.events).write_text(events)
    with pytest.raises(TaskError, match=message) as info:
        load_detection_task(detection_task, 1.0)
    assert "events.csv" in str(info.value)


def test_config_of_detection_tasks():
    assert parse(DetectionConfig, {"segment_seconds": 0.5}, "d").window_seconds == 1.0
    for bad in ({"segment_seconds": 0}, {"window_seconds": -1}, {"resolution": 1}):
        with pytest.raises(ConfigError):
            parse(DetectionConfig, bad, "d")
    with pytest.raises(ConfigError, match="micro_f1"):
        TaskConfig(name="x", path="m.csv", events="e.csv")  # accuracy cannot score segments of several classes


def test_the_demo_index_marks_the_detection_task(tmp_path: Path):
    index = {"pitch": {"manifest": "pitch/manifest.csv"},
             "sound_event_detection": {"manifest": "sed/manifest.csv", "events": "sed/events.csv"}}
    (tmp_path / "tasks.json").write_text(json.dumps(index))
    pitch, sed = demo_tasks(str(tmp_path), n_folds=3)
    assert pitch.events is None and pitch.metric == "accuracy"
    assert sed.events == str(tmp_path / "sed/events.csv") and sed.metric == "micro_f1"
    assert sed.protocol == "group_kfold" and sed.n_folds == 3
