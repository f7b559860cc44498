"""Loading tasks from a folder of classes, a manifest and the ESC-50 layout, and the errors for bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from eval_audio import write_tone

from pipeline.config import ConfigError, parse
from pipeline.evaluate.tasks import TaskConfig, TaskError, load_task


def test_folder_of_classes(class_folder: Path):
    task = load_task(TaskConfig(name="tones", path=str(class_folder)))
    assert task.classes == ("high", "low", "mid")
    assert task.n_clips == 18 and task.labels.dtype == np.int64
    assert np.bincount(task.labels).tolist() == [6, 6, 6]
    for path, label in zip(task.paths, task.labels):
        assert Path(path).is_absolute() and f"/{task.classes[label]}/" in path
    assert task.groups is None and task.folds is None and not task.multilabel


def test_manifest_columns(manifest_task: Path):
    task = load_task(TaskConfig(name="t", path=str(manifest_task), protocol="group_kfold", n_folds=3))
    df = pd.read_csv(manifest_task)
    assert [task.classes[i] for i in task.labels] == df["label"].tolist()
    assert task.groups.tolist() == df["group"].tolist()
    assert task.folds.tolist() == df["fold"].tolist()
    assert task.ids.tolist() == df["path"].tolist()
    assert all(Path(p).is_file() for p in task.paths)


def test_fingerprint_tracks_labels(manifest_task: Path, tmp_path: Path):
    cfg = TaskConfig(name="t", path=str(manifest_task))
    first = load_task(cfg).fingerprint
    assert load_task(cfg).fingerprint == first
    df = pd.read_csv(manifest_task)
    df.loc[0, "label"], df.loc[6, "label"] = df.loc[6, "label"], df.loc[0, "label"]
    swapped = manifest_task.with_name("swapped.csv")
    df.to_csv(swapped, index=False)
    assert load_task(TaskConfig(name="t", path=str(swapped))).fingerprint != first


def test_multilabel_manifest(tmp_path: Path):
    for i in range(4):
        write_tone(tmp_path / f"{i}.wav", 300 + 100 * i)
    (tmp_path / "m.csv").write_text('path,labels\n0.wav,"dog,bark"\n1.wav,dog\n2.wav,\n3.wav,"cat, bark"\n')
    task = load_task(TaskConfig(name="ml", path=str(tmp_path / "m.csv"), metric="map", n_folds=2))
    assert task.classes == ("bark", "cat", "dog") and task.multilabel
    assert task.labels.tolist() == [[1, 0, 1], [0, 0, 1], [0, 0, 0], [1, 1, 0]]


def test_split_column_gives_one_test_fold(manifest_task: Path):
    df = pd.read_csv(manifest_task).drop(columns=["fold"])
    df["split"] = ["test" if i % 3 == 0 else "train" for i in range(len(df))]
    path = manifest_task.with_name("split.csv")
    df.to_csv(path, index=False)
    task = load_task(TaskConfig(name="t", path=str(path), protocol="folds"))
    assert task.folds.tolist() == [0 if i % 3 == 0 else -1 for i in range(len(df))]


def make_esc50(root: Path) -> Path:
    """A fake ESC-50 release: meta/esc50.csv and 2 classes x 5 folds of real wav files."""
    rows = []
    for fold in range(1, 6):
        for target, category in enumerate(("dog", "rain")):
            name = f"{fold}-{100 + target}-A-{target}.wav"
            write_tone(root / "audio" / name, 400 + 2000 * target, seconds=0.3, seed=fold)
            rows.append({"filename": name, "fold": fold, "target": target, "category": category,
                         "esc10": True, "src_file": 100 + target, "take": "A"})
    (root / "meta").mkdir()
    pd.DataFrame(rows).to_csv(root / "meta" / "esc50.csv", index=False)
    return root


@pytest.mark.parametrize("fmt", ["auto", "esc50"])
def test_esc50_layout(tmp_path: Path, fmt: str):
    root = make_esc50(tmp_path / "ESC-50-master")
    task = load_task(TaskConfig(name="esc50", path=str(root), protocol="folds", format=fmt))
    assert task.classes == ("dog", "rain") and task.n_clips == 10
    assert sorted(set(task.folds.tolist())) == [0, 1, 2, 3, 4]
    assert task.ids[0] == "audio/1-100-A-0.wav" and Path(task.paths[0]).is_file()
    assert task.labels.tolist() == [0, 1] * 5


def test_config_parsing():
    cfg = parse(TaskConfig, {"name": "x", "path": "p", "metric": "map", "protocol": "group_kfold"}, "task")
    assert cfg.n_folds == 5 and cfg.protocol == "group_kfold"
    with pytest.raises(ConfigError, match="protocol"):
        parse(TaskConfig, {"name": "x", "path": "p", "protocol": "loo"}, "task")
    with pytest.raises(ConfigError, match="n_folds"):
        parse(TaskConfig, {"name": "x", "path": "p", "n_folds": 1}, "task")


def write_manifest(tmp_path: Path, text: str) -> Path:
    for name in ("a", "b", "c", "d"):
        write_tone(tmp_path / f"{name}.wav", 500, seconds=0.1)
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, extra, message", [
    ("path,class\na.wav,x\nb.wav,y\n", {}, "`label` or `labels`"),
    ("file,label\na.wav,x\nb.wav,y\n", {}, "`path` column"),
    ("path,label\na.wav,x\nmissing.wav,y\n", {}, "not found"),
    ("path,label\na.wav,x\nb.wav,x\nc.wav,y\n", {}, r"fewer than 2 examples"),
    ('path,label\na.wav,x\nb.wav,"x,y"\nc.wav,y\nd.wav,y\n', {}, "exactly one label"),
    ("path,label\na.wav,x\nb.wav,x\nc.wav,y\nd.wav,y\n", {"protocol": "folds"}, "`fold` column"),
    ("path,label,group\na.wav,x,1\nb.wav,x,1\nc.wav,y,2\nd.wav,y,3\n",
     {"protocol": "group_kfold", "n_folds": 2}, "single group"),
    ("path,label,group\na.wav,x,1\nb.wav,x,2\nc.wav,y,1\nd.wav,y,2\n",
     {"protocol": "group_kfold", "n_folds": 3}, "at least n_folds=3 distinct groups"),
])
def test_bad_manifests_name_the_file(tmp_path: Path, text: str, extra: dict, message: str):
    path = write_manifest(tmp_path, text)
    with pytest.raises(TaskError, match=message) as info:
        load_task(TaskConfig(name="bad", path=str(path), **{"n_folds": 2, **extra}))
    assert str(path) in str(info.value)


def test_missing_path_and_empty_class_folder(tmp_path: Path):
    with pytest.raises(TaskError, match="does not exist"):
        load_task(TaskConfig(name="x", path=str(tmp_path / "nowhere")))
    write_tone(tmp_path / "c" / "a" / "1.wav", 300)
    (tmp_path / "c" / "b").mkdir()
    with pytest.raises(TaskError, match="holds no audio"):
        load_task(TaskConfig(name="x", path=str(tmp_path / "c")))


def test_builtin_tasks_need_their_index(tmp_path):
    from pipeline.evaluate.tasks import demo_tasks

    with pytest.raises(TaskError, match="tasks.json"):
        demo_tasks(str(tmp_path))
