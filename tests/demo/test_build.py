"""A tiny demo build: byte-identical rebuilds, valid manifests, and tasks disjoint from the corpus."""
import hashlib
import json
from dataclasses import fields, replace
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
import yaml

from pipeline.config import ConfigError, parse
from pipeline.demo.build import CORPUS_COLUMNS, TASK_COLUMNS, build_demo_corpus, build_tasks, separate_folders
from pipeline.demo.config import DemoConfig
from pipeline.demo.instruments import GM_FAMILIES, PITCH_CLASSES
from pipeline.demo.jobs import SOURCE_COUNTS, STREAMS
from pipeline.demo.phrases import LANGUAGES
from pipeline.demo.tasks import TASKS
from pipeline.demo.voices import parse_voice

COUNTS = {"n_instrument": 6, "n_speech": 4, "n_noisy": 3, "n_percussion": 4, "n_events": 8, "n_sentences": 5,
          "n_scenes": 6}
SOURCES = {source: COUNTS[f"n_{count}"] for source, count in SOURCE_COUNTS.items()}
ROOT = Path(__file__).resolve().parents[2]


def tiny(root: Path, **overrides) -> DemoConfig:
    """A build of a few dozen corpus clips, 3 clips per task class and 10 short detection scenes."""
    return replace(DemoConfig(n_task_clips=24, n_detection_clips=10, detection_seconds=3.0, workers=2, **COUNTS),
                   **overrides)


def digests(root: Path) -> dict[str, str]:
    """Relative path -> md5 of every file below `root`."""
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def sample_hashes(folder: Path, manifest: pd.DataFrame) -> set[str]:
    """md5 of the decoded samples of every clip of a manifest."""
    return {hashlib.md5(sf.read(folder / p, dtype="int16")[0].tobytes()).hexdigest() for p in manifest["path"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    cfg = tiny(root)
    return cfg, build_demo_corpus(cfg, root / "demo"), build_tasks(cfg, root / "tasks")


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_rebuild_is_byte_identical_whatever_the_worker_count(built, tmp_path):
    cfg, manifest, _ = built
    other = tiny(tmp_path, workers=1)
    build_demo_corpus(other, tmp_path / "demo")
    build_tasks(other, tmp_path / "tasks")
    assert digests(manifest.parent) == digests(tmp_path / "demo")
    assert digests(manifest.parent.parent / "tasks") == digests(tmp_path / "tasks")
    assert len(digests(manifest.parent)) == sum(COUNTS.values()) + 1


def test_corpus_manifest_columns_paths_and_labels(built):
    cfg, manifest_path, _ = built
    df = read(manifest_path)
    assert tuple(df.columns[:len(CORPUS_COLUMNS)]) == CORPUS_COLUMNS
    assert df["source"].value_counts().to_dict() == SOURCES
    assert df["clip_id"].is_unique and set(df["split"]) <= {"train", "valid"}
    assert (df["labels"] != "").all() and not df["labels"].str.contains(",").any()
    for path in df["path"]:
        assert not Path(path).is_absolute() and (manifest_path.parent / path).is_file()
    inst = df[df["source"] == "instrument"]
    assert set(inst["family"]) <= set(GM_FAMILIES) and (inst["word"] == "").all()
    assert all(PITCH_CLASSES[int(p) % 12] == c for p, c in zip(inst["pitch"], inst["pitch_class"]))
    assert all(GM_FAMILIES[int(p) // 8] == f for p, f in zip(inst["program"], inst["family"]))
    spoken = df[df["voice"] != ""]
    assert set(spoken["source"]) == {"speech", "noisy_speech", "sentences"} and (spoken["family"] == "").all()
    assert all(parse_voice(v)[0] == lang for v, lang in zip(spoken["voice"], spoken["language"]))
    sentences = df[df["source"] == "sentences"]
    assert set(sentences["language"]) <= set(LANGUAGES) and (sentences["text"] != "").all()
    events = df[df["source"] == "events"]
    assert (events["event"] != "").all() and list(events["labels"]) == [f"event:{e}" for e in events["event"]]
    assert list(sentences["labels"]) == [f"language:{lang}" for lang in sentences["language"]]
    assert (df.loc[df["source"] == "percussion", "kit_piece"] != "").all()
    assert (df.loc[df["source"] == "scenes", "parts"].str.count(r"\+") >= 1).all()
    durations = df["seconds"].astype(float)
    assert durations.between(*cfg.clip_seconds).all()
    info = sf.info(manifest_path.parent / df["path"].iat[0])
    assert info.samplerate == cfg.sample_rate and info.subtype == "PCM_16" and info.format == "FLAC"


def test_tasks_are_balanced_grouped_and_disjoint_from_corpus(built):
    cfg, manifest_path, tasks = built
    corpus = read(manifest_path)
    corpus_variants = {parse_voice(v)[1] for v in corpus["voice"] if v}
    corpus_audio = sample_hashes(manifest_path.parent, corpus)
    assert set(tasks) == set(TASKS)
    for task, path in tasks.items():
        df = read(path)
        assert tuple(df.columns) == TASK_COLUMNS and df["clip_id"].is_unique
        assert set(df["clip_id"]).isdisjoint(corpus["clip_id"])
        assert all((path.parent / p).is_file() for p in df["path"])
        assert sample_hashes(path.parent, df).isdisjoint(corpus_audio)
        if not TASKS[task].events:
            assert df["label"].value_counts().to_dict() == {c: 3 for c in TASKS[task].classes}
    for task in ("language_id", "spoken_word_noise"):
        assert set(read(tasks[task])["group"]).isdisjoint(corpus_variants)
    for task in ("sound_event", "drum_piece", "instrument_family"):
        df = read(tasks[task])
        assert (df.groupby("group")["label"].nunique() == 1).all()  # a family belongs to one class
        assert (df.groupby("label")["group"].nunique() == 3).all()
    for task in ("pitch", "speaker"):  # groups (GM families, sessions) cross the classes: a group is no label
        df = read(tasks[task])
        assert (df.groupby("group")["label"].nunique() > 1).all()


def test_detection_task_writes_its_events(built):
    _, _, tasks = built
    folder = tasks["sound_event_detection"].parent
    manifest, events = read(folder / "manifest.csv"), read(folder / "events.csv")
    assert tuple(events.columns) == ("path", "onset", "offset", "label") and len(manifest) == 10
    assert set(events["path"]) <= set(manifest["path"]) and set(events["label"]) <= set(TASKS[
        "sound_event_detection"].classes)
    assert (events["onset"].astype(float) < events["offset"].astype(float)).all()
    assert events["offset"].astype(float).max() <= 3.0 and manifest["group"].is_unique
    for path, label in zip(manifest["path"], manifest["label"]):  # a scene's label: the classes it holds
        assert label == ",".join(sorted(set(events.loc[events["path"] == path, "label"])))
        assert sf.info(folder / path).duration == pytest.approx(3.0)
    index = json.loads((folder.parent / "tasks.json").read_text())["sound_event_detection"]
    assert index["events"] == "sound_event_detection/events.csv" and index["annotations"] == len(events)


def test_evaluate_reads_the_tasks_and_keeps_groups_out_of_train(built):
    from pipeline.evaluate.detection import load_detection_task
    from pipeline.evaluate.splits import group_kfold
    from pipeline.evaluate.tasks import demo_tasks, load_task

    _, manifest_path, _ = built
    configs = demo_tasks(manifest_path.parent.parent / "tasks", n_folds=3)
    assert [c.name for c in configs] == list(TASKS)  # every built task, in the index's (TASKS) order
    for config in configs:
        task = load_detection_task(config, 1.0) if config.events else load_task(config)
        assert task.n_clips == (30 if config.events else 24) and task.grouped
        for train, test in group_kfold(task, seed=0):
            assert set(task.groups[train]).isdisjoint(task.groups[test])


def test_prepare_ingests_the_manifest(built, tmp_path):
    from pipeline.corpus import Corpus
    from pipeline.prepare import PrepareConfig, prepare_corpus

    _, manifest_path, _ = built
    result = prepare_corpus(PrepareConfig(input=str(manifest_path), output=str(tmp_path / "c"), workers=1))
    assert result.n_rejected == 0 and result.corpus.n_clips == sum(COUNTS.values())
    manifest = Corpus(tmp_path / "c" / "corpus.h5").manifest()
    assert manifest["labels"].str.len().min() > 0
    assert set(manifest["source"]) == set(SOURCES)
    assert set(manifest.loc[manifest["source"] == "sentences", "text"]) == set(read(manifest_path).query(
        "source == 'sentences'")["text"])  # non-Latin scripts survive the corpus store


def test_rebuild_replaces_stale_files_but_never_a_foreign_folder(tmp_path):
    cfg = tiny(tmp_path, **{**{name: 0 for name in COUNTS}, "n_instrument": 2})
    build_demo_corpus(cfg, tmp_path / "demo")
    stale = tmp_path / "demo" / "instrument" / "stale.flac"
    stale.write_bytes(b"x")
    build_demo_corpus(cfg, tmp_path / "demo")
    assert not stale.exists() and (tmp_path / "demo" / "manifest.csv").is_file()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError):
        build_demo_corpus(cfg, foreign)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_config_defaults_are_params_yaml():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["demo"]
    defaults = {f.name: getattr(DemoConfig(), f.name) for f in fields(DemoConfig)}
    assert set(params) == set(defaults)
    assert parse(DemoConfig, params, "demo") == DemoConfig()


def test_tasks_folder_may_not_overlap_the_corpus_folder(tmp_path):
    separate_folders(tmp_path / "demo", tmp_path / "tasks")
    for corpus, tasks in ((tmp_path / "x", tmp_path / "x"), (tmp_path / "x", tmp_path / "x" / "tasks"),
                          (tmp_path / "x" / "demo", tmp_path / "x")):
        with pytest.raises(ValueError, match="must not be, contain or lie inside"):
            separate_folders(corpus, tasks)


def test_config_validation():
    assert parse(DemoConfig, {"scale": 0.5, "clip_seconds": [2, 3]}, "demo").clip_seconds == (2.0, 3.0)
    assert DemoConfig(scale=0.001).count("instrument") == 1 and DemoConfig(n_noisy=0).count("noisy") == 0
    for bad in ({"n_speeches": 3}, {"scale": 0}, {"clip_seconds": [4, 2]}, {"snr_db": [10, 0]},
                {"heldout_voices": 0.9}, {"output": "x"}, {"seed": "one"},
                {"n_events": -1}, {name: 0 for name in COUNTS}):
        with pytest.raises(ConfigError):
            parse(DemoConfig, bad, "demo")


def test_seed_streams_are_distinct_and_never_bare():
    assert len(set(STREAMS.values())) == len(STREAMS) and 7 not in STREAMS.values()  # 7: the voice split
    assert set(SOURCE_COUNTS) | set(TASKS) | {"split"} <= set(STREAMS)
