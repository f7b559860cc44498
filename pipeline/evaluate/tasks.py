"""Downstream tasks: labelled audio read from a folder of classes, a manifest, or the ESC-50 layout.

Formats (`TaskConfig.format`, "auto" picks one from what `path` is):
    folder    `path/<class>/**/*.wav`: one sub-folder per class, single-label.
    manifest  CSV/Parquet with `path` (relative to the manifest's folder, or `root`) and `label` or `labels`,
              optional `fold`, `split` and `group` columns.
    esc50     the ESC-50 release: `path/meta/esc50.csv` (filename, fold, target, category) and `path/audio/`.
Labels: with metric `accuracy` each row has exactly one class; with metric `map` or `micro_f1` the label cell is a
`label_separator`-joined list of classes (possibly empty) and labels become a multi-hot matrix.
Detection tasks (`TaskConfig.events`: timed annotations of the clips) are probed per clip segment instead: see
pipeline/evaluate/detection.py.
Given folds: a `fold` column gives the test fold of each row; without one, a `split` column gives a single
train/test split (rows whose split is "test" are fold 0, every other row is fold -1 = always train).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pandas as pd

from pipeline.config import check
from pipeline.prepare import AUDIO_EXTENSIONS, read_input_manifest

Metric = Literal["accuracy", "map", "micro_f1"]
SplitProtocol = Literal["folds", "kfold", "group_kfold"]
TaskFormat = Literal["auto", "folder", "manifest", "esc50"]
ESC50_META = Path("meta") / "esc50.csv"


class TaskError(ValueError):
    """A task's files or labels cannot support the requested evaluation; the message names the file."""


@dataclass(frozen=True)
class TaskConfig:
    """One downstream task (an item of the evaluate params' task list)."""

    name: str
    path: str
    metric: Metric = "accuracy"
    protocol: SplitProtocol = "kfold"
    n_folds: int = 5
    format: TaskFormat = "auto"
    root: str | None = None
    label_separator: str = ","
    events: str | None = None  # CSV of timed events (path, onset, offset, label): a detection task, probed per segment

    def __post_init__(self):
        check(bool(self.name) and "/" not in self.name, "task.name", f"must be a non-empty name without '/', "
              f"got {self.name!r}")
        check(self.n_folds >= 2, f"task.{self.name}.n_folds", f"must be >= 2, got {self.n_folds}")
        check(bool(self.label_separator), f"task.{self.name}.label_separator", "must not be empty")
        check(self.events is None or self.metric != "accuracy", f"task.{self.name}.metric",
              "a detection task (events) is multi-label: use micro_f1 or map")


@dataclass(frozen=True, eq=False)
class Task:
    """A loaded task: audio paths, labels, groups and given folds, all aligned by row. A row is a clip, or in a
    detection task a segment of one (`segments` gives where it lies in its file)."""

    name: str
    source: str
    metric: Metric
    protocol: SplitProtocol
    n_folds: int
    classes: tuple[str, ...]
    ids: np.ndarray  # (n,) str, paths as written in the source (relative), used for the fingerprint
    paths: np.ndarray  # (n,) str, absolute audio paths
    labels: np.ndarray  # (n,) int64 class codes, or (n, classes) uint8 multi-hot when multilabel
    groups: np.ndarray | None  # (n,) str, e.g. speaker or instrument
    folds: np.ndarray | None  # (n,) int64 given test fold; -1 = always train
    fingerprint: str
    segments: np.ndarray | None = None  # (n, 2) float64 start and end (s) of each row in its file; None: whole clips

    @property
    def n_clips(self) -> int:
        """Number of labelled rows (clips, or clip segments in a detection task)."""
        return len(self.paths)

    @property
    def multilabel(self) -> bool:
        """Whether labels are a multi-hot matrix (metric `map`)."""
        return self.labels.ndim == 2

    @property
    def grouped(self) -> bool:
        """Whether splits (test and inner validation) must keep each group on one side (always for segments: a
        clip's segments stay together)."""
        return self.protocol == "group_kfold" or self.segments is not None


def load_task(cfg: TaskConfig) -> Task:
    """Read a task's table, resolve and check its audio files, encode labels and check the protocol can run."""
    fmt = _detect_format(cfg)
    table, base, source = READERS[fmt](cfg)
    table = table.reset_index(drop=True)
    paths = _resolve(table["path"].astype(str), base, source)
    classes, labels = _encode_labels(table["label"].astype(str), cfg, source)
    groups = table["group"].astype(str).to_numpy() if "group" in table.columns else None
    folds = _given_folds(table, source)
    task = Task(cfg.name, source, cfg.metric, cfg.protocol, cfg.n_folds, classes,
                table["path"].astype(str).to_numpy(), paths, labels, groups, folds,
                _fingerprint(table["path"].astype(str), paths, classes, labels))
    _check_protocol(task)
    return task


def _detect_format(cfg: TaskConfig) -> str:
    path = Path(cfg.path)
    if not path.exists():
        raise TaskError(f"task {cfg.name}: {path} does not exist")
    if cfg.format != "auto":
        return cfg.format
    if path.is_dir():
        return "esc50" if (path / ESC50_META).exists() else "folder"
    return "manifest"


def _read_folder(cfg: TaskConfig) -> tuple[pd.DataFrame, Path, str]:
    folder = Path(cfg.path)
    if not folder.is_dir():
        raise TaskError(f"task {cfg.name}: format folder needs a directory, got file {folder}")
    rows = []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(p for p in class_dir.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        if not files:
            raise TaskError(f"task {cfg.name}: class folder {class_dir} holds no audio files {AUDIO_EXTENSIONS}")
        rows += [{"path": str(f.relative_to(folder)), "label": class_dir.name} for f in files]
    if not rows:
        raise TaskError(f"task {cfg.name}: {folder} has no class sub-folders (expected <class>/<file>.wav)")
    return pd.DataFrame(rows), folder, str(folder)


def _read_manifest(cfg: TaskConfig) -> tuple[pd.DataFrame, Path, str]:
    path = Path(cfg.path)
    if path.is_dir():
        raise TaskError(f"task {cfg.name}: format manifest needs a CSV/Parquet file, got directory {path}")
    try:
        table = read_input_manifest(path, "{ytid}.wav")
    except (ValueError, OSError) as exc:
        raise TaskError(f"task {cfg.name}: cannot read manifest {path}: {exc}") from exc
    if "labels" not in table.columns or "label" in table.columns:
        raise TaskError(f"manifest {path} needs one `label` or `labels` column; found {list(table.columns)}")
    table = table.rename(columns={"labels": "label"})
    return table, Path(cfg.root) if cfg.root else path.parent, str(path)


def _read_esc50(cfg: TaskConfig) -> tuple[pd.DataFrame, Path, str]:
    root = Path(cfg.path)
    meta = root / ESC50_META
    if not meta.exists():
        raise TaskError(f"task {cfg.name}: ESC-50 layout needs {meta} (columns filename, fold, target, category)")
    table = pd.read_csv(meta, dtype=str, keep_default_na=False)
    missing = sorted({"filename", "fold", "category"} - set(table.columns))
    if missing:
        raise TaskError(f"{meta}: missing column(s) {missing}; found {list(table.columns)}")
    table = pd.DataFrame({"path": "audio/" + table["filename"], "label": table["category"], "fold": table["fold"]})
    return table, Path(cfg.root) if cfg.root else root, str(meta)


READERS: dict[str, Callable[[TaskConfig], tuple[pd.DataFrame, Path, str]]] = {
    "folder": _read_folder,
    "manifest": _read_manifest,
    "esc50": _read_esc50,
}


def _resolve(paths: pd.Series, base: Path, source: str) -> np.ndarray:
    full = [str(p if Path(p).is_absolute() else (base / p).resolve()) for p in paths]
    missing = [p for p, f in zip(paths, full) if not Path(f).is_file()]
    if missing:
        raise TaskError(f"{source}: {len(missing)} audio file(s) not found under {base}, e.g. {missing[:3]}")
    return np.asarray(full, dtype=str)


def _encode_labels(cells: pd.Series, cfg: TaskConfig, source: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Class names (sorted) and int codes (n,) for accuracy, or a multi-hot (n, classes) matrix for map."""
    lists = [[c.strip() for c in cell.split(cfg.label_separator) if c.strip()] for cell in cells]
    if cfg.metric == "accuracy":
        bad = [i for i, tags in enumerate(lists) if len(tags) != 1]
        if bad:
            raise TaskError(f"{source}: metric accuracy needs exactly one label per row; row(s) {bad[:5]} have "
                            f"{[cells.iat[i] for i in bad[:5]]!r} (use metric: map for multi-label tasks)")
    classes = tuple(sorted({c for tags in lists for c in tags}))
    if len(classes) < 2:
        raise TaskError(f"{source}: a task needs at least 2 classes, found {list(classes)}")
    code = {c: i for i, c in enumerate(classes)}
    if cfg.metric == "accuracy":
        return classes, np.array([code[tags[0]] for tags in lists], dtype=np.int64)
    hot = np.zeros((len(lists), len(classes)), dtype=np.uint8)
    for row, tags in enumerate(lists):
        hot[row, [code[c] for c in tags]] = 1
    return classes, hot


def _given_folds(table: pd.DataFrame, source: str) -> np.ndarray | None:
    if "fold" in table.columns:
        values = table["fold"].astype(str).str.strip()
        if (values == "").any():
            raise TaskError(f"{source}: column `fold` is empty in {(values == '').sum()} row(s)")
        return np.unique(values, return_inverse=True)[1].astype(np.int64)
    if "split" in table.columns:
        return np.where(table["split"].astype(str).str.strip() == "test", 0, -1).astype(np.int64)
    return None


def _check_protocol(task: Task) -> None:
    """Fail early, naming the file, when the task's protocol cannot produce sound splits."""
    where = f"task {task.name} ({task.source})"
    if task.protocol == "folds":
        if task.folds is None or not (task.folds >= 0).any():
            raise TaskError(f"{where}: protocol folds needs a `fold` column or a `split` column with 'test' rows")
        if len(np.unique(task.folds)) < 2:
            raise TaskError(f"{where}: protocol folds needs at least 2 distinct folds (or train and test rows)")
    if task.protocol == "group_kfold":
        n_groups = 0 if task.groups is None else len(np.unique(task.groups))
        if n_groups < task.n_folds:
            raise TaskError(f"{where}: protocol group_kfold needs a `group` column with at least n_folds="
                            f"{task.n_folds} distinct groups, found {n_groups}")
    if task.protocol != "folds" and not task.multilabel:
        _check_strata(task, where)


def _check_strata(task: Task, where: str) -> None:
    counts = np.bincount(task.labels, minlength=len(task.classes))
    rare = [task.classes[i] for i in np.flatnonzero(counts < 2)]
    if rare:
        raise TaskError(f"{where}: class(es) {rare[:5]} have fewer than 2 examples; stratified splits need "
                        f"every class in both train and test")
    if task.grouped:
        per_class = pd.DataFrame({"c": task.labels, "g": task.groups}).groupby("c")["g"].nunique()
        lonely = [task.classes[i] for i, n in per_class.items() if n < 2]
        if lonely:
            raise TaskError(f"{where}: class(es) {lonely[:5]} occur in a single group; grouped splits can never "
                            f"put them in both train and test")


def _fingerprint(ids: pd.Series, paths: np.ndarray, classes: tuple[str, ...], labels: np.ndarray) -> str:
    """Hash of relative paths, file sizes (a cheap guard against re-rendered audio) and labels."""
    sizes = [Path(p).stat().st_size for p in paths]
    h = hashlib.sha256(json.dumps([list(ids), sizes, list(classes)]).encode())
    h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()[:16]


def demo_tasks(root: str, n_folds: int = 5) -> tuple[TaskConfig, ...]:
    """The built-in demo tasks under `root` (`paths.tasks`), as its index `tasks.json` lists them (in that order),
    each probed by grouped k-fold (the groups the demo build wrote: programs, voices, sessions, scenes...)."""
    index = Path(root) / "tasks.json"
    if not index.is_file():
        raise TaskError(f"built-in task index {index} not found: build the tasks with `ssondo demo-corpus`")
    entries = json.loads(index.read_text())
    return tuple(_demo_task(Path(root), name, entry, n_folds) for name, entry in entries.items())


def _demo_task(root: Path, name: str, entry: dict, n_folds: int) -> TaskConfig:
    """One entry of the index; one with `events` is a detection task, scored by segment-based micro F1."""
    if "events" in entry:
        return TaskConfig(name=name, path=str(root / entry["manifest"]), metric="micro_f1", protocol="group_kfold",
                          n_folds=n_folds, events=str(root / entry["events"]))
    return TaskConfig(name=name, path=str(root / entry["manifest"]), protocol="group_kfold", n_folds=n_folds)
