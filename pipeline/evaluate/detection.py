"""Detection tasks: clips annotated with timed events, probed segment by segment.

A detection task's rows are the segments of its clips: each clip is cut into back-to-back segments of
`segment_seconds` from its start (the last one shorter where the clip does not divide evenly), and each segment
gets a multi-hot label: a class is active in a segment when one of its events overlaps the segment at all (the
segment-based rule of the DCASE metrics, Mesaros et al. 2016). A segment's group is its clip's group (the clip
itself when the manifest has none), so a clip's segments are never split between train and test folds, nor
between a probe's fit and validation rows; protocol `kfold` becomes grouped k-fold for the same reason.

Events file (`TaskConfig.events`): a CSV with `path` (as the manifest writes it), `onset` and `offset` (s) and
`label` (the class), one row per event; a clip without events has no class active anywhere.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from pipeline.config import check
from pipeline.evaluate.tasks import Task, TaskConfig, TaskError, load_task

EVENT_COLUMNS = ("path", "onset", "offset", "label")


@dataclass(frozen=True)
class DetectionConfig:
    """How detection tasks are cut and embedded (params section `evaluate.detection`)."""

    segment_seconds: float = 1.0    # resolution: one embedding and one multi-hot label per segment this long
    window_seconds: float = 1.0     # models without frame embeddings embed a window this long centred on a segment
    sliding_students: bool = True   # also probe each distilled student the sliding-window way (`<name>-windows`)

    def __post_init__(self):
        check(self.segment_seconds > 0, "evaluate.detection.segment_seconds", "must be > 0")
        check(self.window_seconds > 0, "evaluate.detection.window_seconds", "must be > 0")


def segment_bounds(duration: float, segment_seconds: float) -> np.ndarray:
    """(segments, 2) start and end (s) of back-to-back segments covering `duration` (at least one)."""
    n = max(1, int(np.ceil(duration / segment_seconds - 1e-9)))
    starts = np.arange(n) * segment_seconds
    return np.stack([starts, np.minimum(starts + segment_seconds, duration)], axis=1)


def segment_labels(events: pd.DataFrame, bounds: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """(segments, classes) uint8: 1 where an event of the class overlaps the segment by more than nothing."""
    hot = np.zeros((len(bounds), len(classes)), dtype=np.uint8)
    code = {c: i for i, c in enumerate(classes)}
    for onset, offset, label in events[["onset", "offset", "label"]].itertuples(index=False):
        hot[(bounds[:, 0] < offset) & (bounds[:, 1] > onset), code[label]] = 1
    return hot


def read_events(path: str | Path, clip_paths: set[str]) -> pd.DataFrame:
    """The events CSV, checked: its columns, onset < offset, onset >= 0, and every path a clip of the manifest."""
    try:
        table = pd.read_csv(path, dtype={"path": str, "label": str}, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise TaskError(f"cannot read events {path}: {exc}") from exc
    missing = sorted(set(EVENT_COLUMNS) - set(table.columns))
    if missing:
        raise TaskError(f"events {path}: missing column(s) {missing}; found {list(table.columns)}")
    for col in ("onset", "offset"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    bad = table.index[~((table["onset"] >= 0) & (table["offset"] > table["onset"]))].tolist()
    if bad:
        raise TaskError(f"events {path}: row(s) {bad[:5]} need 0 <= onset < offset")
    unknown = sorted(set(table["path"]) - clip_paths)
    if unknown:
        raise TaskError(f"events {path}: {len(unknown)} path(s) not in the manifest, e.g. {unknown[:3]}")
    return table[list(EVENT_COLUMNS)]


def load_detection_task(cfg: TaskConfig, segment_seconds: float) -> Task:
    """A detection task: the manifest's clips (as `load_task` reads them) cut into segments, one row each, labelled
    from the events file."""
    if cfg.events is None:
        raise TaskError(f"task {cfg.name}: a detection task needs an events file")
    clips = load_task(cfg)
    events = read_events(cfg.events, set(clips.ids))
    classes = tuple(sorted(set(events["label"])))
    if len(classes) < 2:
        raise TaskError(f"events {cfg.events}: a detection task needs at least 2 classes, found {list(classes)}")
    by_path = dict(iter(events.groupby("path")))
    groups = clips.groups if clips.groups is not None else clips.ids
    rows, labels = [], []
    for i, (rel, full) in enumerate(zip(clips.ids, clips.paths)):
        bounds = segment_bounds(_seconds(full), segment_seconds)
        rows += [(i, start, end) for start, end in bounds]
        labels.append(segment_labels(by_path.get(rel, events.iloc[:0]), bounds, classes))
    clip = np.array([r[0] for r in rows])
    bounds = np.array([r[1:] for r in rows], dtype=np.float64).reshape(-1, 2)
    hot = np.concatenate(labels)
    folds = None if clips.folds is None else clips.folds[clip]
    return replace(clips, classes=classes, ids=clips.ids[clip], paths=clips.paths[clip], labels=hot,
                   groups=np.asarray(groups)[clip], folds=folds,
                   protocol="folds" if clips.protocol == "folds" else "group_kfold",
                   fingerprint=_fingerprint(clips.fingerprint, bounds, hot, classes), segments=bounds)


def _seconds(path: str) -> float:
    """Duration (s) of an audio file, from its header."""
    try:
        info = sf.info(path)
    except (sf.SoundFileError, OSError, RuntimeError) as exc:
        raise TaskError(f"cannot read task audio {path}: {exc}") from exc
    return info.frames / info.samplerate


def _fingerprint(clips: str, bounds: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]) -> str:
    """The clips' fingerprint with the segments and their labels: a new resolution is a new task."""
    h = hashlib.sha256(clips.encode())
    h.update(repr(classes).encode())
    h.update(np.ascontiguousarray(bounds).tobytes())
    h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()[:16]
