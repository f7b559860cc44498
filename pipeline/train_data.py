"""Assemble what the training loop reads: corpus, targets, sampling weights and validation rows."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pipeline.corpus import Corpus
from pipeline.sampling import uniform_weights
from pipeline.store import EmbeddingStore
from pipeline.students.pretrained import file_sha256
from pipeline.targets import NormalisedTargets, load_targets, target_stats
from pipeline.train import LabelTargets, TrainConfig, TrainData, validation_rows

# (index path, store fingerprint) -> (weights (n_clips,), clusters (n_clips,)); refuses a foreign index
IndexLoader = Callable[[str, str], tuple[np.ndarray, np.ndarray]]


def distill_data(cfg: TrainConfig, corpus: Corpus, stores: Sequence[EmbeddingStore], window: int,
                 index_path: str | None, load_index: IndexLoader | None) -> TrainData:
    """Targets from the store(s); weights from the balanced index (or uniform); validation rows zero-weighted."""
    init = init_meta(cfg)  # a missing start checkpoint fails before the targets are read
    for s in stores:
        s.require_complete(corpus.fingerprint)
    targets = load_targets(stores, cfg.target, int(cfg.memory_budget_gb * (1 << 30)), max(16, cfg.block_chunks))
    clip_valid = np.logical_and.reduce([s.array("clip_valid")[:] for s in stores])
    if cfg.target == "window":  # a clip is usable when one of its windows is valid for every teacher at once
        clip_valid &= np.bincount(stores[0].array("window_clip")[:][targets.valid], minlength=len(corpus)) > 0
    if cfg.sampler == "balanced":
        if len(stores) != 1 or index_path is None or load_index is None:
            raise ValueError("train.sampler=balanced needs exactly one teacher store and its cluster index")
        weights, _ = load_index(index_path, stores[0].fingerprint)
        weights = weights * clip_valid
    else:
        weights = uniform_weights(clip_valid)
    val = validation_rows(corpus.manifest(), cfg.val_fraction)
    weights = weights.astype(np.float64).copy()
    weights[val] = 0.0
    meta = {"store_fingerprints": [s.fingerprint for s in stores],
            "teachers": [s.attrs.get("teacher") for s in stores],
            "teacher_fingerprints": [s.attrs.get("teacher_fingerprint") for s in stores],
            "corpus_fingerprint": corpus.fingerprint, **init}
    data = TrainData(corpus, window, targets, weights, val[clip_valid[val]], meta=meta)
    if cfg.target == "window":
        data.window_clip = stores[0].array("window_clip")[:]
        data.window_start = stores[0].array("window_start")[:]
    if cfg.target_norm != "none":
        data.targets = NormalisedTargets(targets, *target_stats(targets, training_target_rows(data, cfg.seed),
                                                                cfg.target_norm))
    return data


def init_meta(cfg: TrainConfig) -> dict:
    """The starting checkpoint's content hash (two files at one path are different runs); {} without one."""
    if cfg.init is None:
        return {}
    if not Path(cfg.init).is_file():  # checked before any target is loaded
        raise ValueError(f"train.init: no checkpoint file at {cfg.init}")
    return {"init_sha256": file_sha256(cfg.init)}


def training_target_rows(data: TrainData, seed: int, sample: int = 20_000) -> np.ndarray:
    """A seeded sample of valid target rows of training clips (never validation clips)."""
    clips = np.flatnonzero(data.weights > 0)
    if data.window_clip is None:
        rows = clips
    else:
        rows = np.flatnonzero(np.isin(data.window_clip, clips) & data.targets.valid)
    rng = np.random.default_rng([seed, 7])
    return rng.choice(rows, size=min(sample, len(rows)), replace=False)


def supervised_data(cfg: TrainConfig, corpus: Corpus, window: int) -> TrainData:
    """Multi-hot labels from the manifest column `cfg.label_column`; uniform sampling over labelled rows."""
    manifest = corpus.manifest()
    if cfg.label_column not in manifest:
        raise ValueError(f"train.label_column: {cfg.label_column!r} not in the corpus manifest "
                         f"(columns: {list(manifest.columns)})")
    targets = LabelTargets(list(manifest[cfg.label_column]))
    weights = uniform_weights(targets.valid)
    val = validation_rows(manifest, cfg.val_fraction)
    weights[val] = 0.0
    meta = {"corpus_fingerprint": corpus.fingerprint, "label_column": cfg.label_column, **init_meta(cfg)}
    return TrainData(corpus, window, targets, weights, val[targets.valid[val]], meta=meta)
