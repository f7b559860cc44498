"""A tiny demo build: byte-identical rebuilds, valid manifests, and tasks disjoint from the corpus."""
import hashlib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from pipeline.config import ConfigError, parse
from pipeline.demo.build import CORPUS_COLUMNS, TASK_COLUMNS, TASKS, build_demo_corpus, build_tasks
from pipeline.demo.config import DemoConfig
from pipeline.demo.instruments import GM_FAMILIES, PITCH_CLASSES
from pipeline.demo.voices import parse_voice


def tiny(root: Path, **overrides) -> DemoConfig:
    """A build of a few dozen clips."""
    return replace(DemoConfig(output=str(root / "demo"), tasks_output=str(root / "tasks"), n_instrument=20,
                              n_speech=12, n_noisy=6, n_task_instrument=24, n_task_speech=8, workers=2), **overrides)


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
    return cfg, build_demo_corpus(cfg), build_tasks(cfg)


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_rebuild_is_byte_identical_whatever_the_worker_count(built, tmp_path):
    cfg, manifest, _ = built
    other = tiny(tmp_path, workers=1)
    build_demo_corpus(other)
    build_tasks(other)
    assert digests(Path(cfg.output)) == digests(Path(other.output))
    assert digests(Path(cfg.tasks_output)) == digests(Path(other.tasks_output))
    assert len(digests(Path(cfg.output))) == 20 + 12 + 6 + 1


def test_corpus_manifest_columns_paths_and_labels(built):
    cfg, manifest_path, _ = built
    df = read(manifest_path)
    assert tuple(df.columns[:len(CORPUS_COLUMNS)]) == CORPUS_COLUMNS
    assert df["source"].value_counts().to_dict() == {"instrument": 20, "speech": 12, "noisy_speech": 6}
    assert df["clip_id"].is_unique and set(df["split"]) <= {"train", "valid"}
    for path in df["path"]:
        assert not Path(path).is_absolute() and (manifest_path.parent / path).is_file()
    inst = df[df["source"] == "instrument"]
    assert set(inst["family"]) <= set(GM_FAMILIES) and (inst["word"] == "").all()
    assert all(PITCH_CLASSES[int(p) % 12] == c for p, c in zip(inst["pitch"], inst["pitch_class"]))
    assert all(GM_FAMILIES[int(p) // 8] == f for p, f in zip(inst["program"], inst["family"]))
    speech = df[df["source"] != "instrument"]
    assert (speech["family"] == "").all() and (speech["word"] != "").all()
    assert all(parse_voice(v)[0] == lang for v, lang in zip(speech["voice"], speech["language"]))
    info = sf.info(manifest_path.parent / df["path"].iat[0])
    assert info.samplerate == cfg.sample_rate and info.subtype == "PCM_16" and info.format == "FLAC"


def test_tasks_are_balanced_and_disjoint_from_corpus(built):
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
    assert set(read(tasks["instrument_family"])["label"]) == set(GM_FAMILIES)
    assert read(tasks["pitch_class"])["label"].value_counts().to_dict() == {c: 2 for c in PITCH_CLASSES}
    for task in ("spoken_word", "spoken_word_noise"):
        groups = read(tasks[task])["group"]
        assert {parse_voice(v)[1] for v in groups}.isdisjoint(corpus_variants)
    clean, noisy = read(tasks["spoken_word"]), read(tasks["spoken_word_noise"])
    assert list(clean["label"]) == list(noisy["label"]) and list(clean["group"]) == list(noisy["group"])
    assert sample_hashes(tasks["spoken_word"].parent, clean).isdisjoint(sample_hashes(tasks["spoken_word_noise"].parent,
                                                                                      noisy))


def test_prepare_ingests_the_manifest(built, tmp_path):
    from pipeline.corpus import Corpus
    from pipeline.prepare import PrepareConfig, prepare_corpus

    _, manifest_path, _ = built
    result = prepare_corpus(PrepareConfig(input=str(manifest_path), output=str(tmp_path / "c"), workers=1))
    assert result.n_rejected == 0 and result.corpus.n_clips == 38
    manifest = Corpus(tmp_path / "c" / "corpus.h5").manifest()
    assert manifest["labels"].str.len().min() > 0
    assert set(manifest["source"]) == {"instrument", "speech", "noisy_speech"}


def test_rebuild_replaces_stale_files_but_never_a_foreign_folder(tmp_path):
    cfg = tiny(tmp_path, n_instrument=2, n_speech=1, n_noisy=0)
    build_demo_corpus(cfg)
    stale = Path(cfg.output) / "instrument" / "stale.flac"
    stale.write_bytes(b"x")
    build_demo_corpus(cfg)
    assert not stale.exists() and (Path(cfg.output) / "manifest.csv").is_file()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError):
        build_demo_corpus(replace(cfg, output=str(foreign)))
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_config_validation():
    assert parse(DemoConfig, {"scale": 0.5, "clip_seconds": [2, 3]}, "demo").clip_seconds == (2.0, 3.0)
    assert DemoConfig(scale=0.001).count("instrument") == 2 and DemoConfig(n_noisy=0).count("noisy") == 0
    for bad in ({"n_speeches": 3}, {"scale": 0}, {"clip_seconds": [4, 2]}, {"snr_db": [10, 0]},
                {"heldout_voices": 0.9}, {"output": "x", "tasks_output": "x/tasks"}, {"seed": "one"},
                {"n_instrument": 0, "n_speech": 0, "n_noisy": 0}):
        with pytest.raises(ConfigError):
            parse(DemoConfig, bad, "demo")
