"""What the training loop reads: corpus, targets, sampling weights, validation rows, and each epoch's plan."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pipeline import distributed
from pipeline.audio.views import Renderer
from pipeline.corpus import Corpus
from pipeline.cluster.index import load_index, read_meta
from pipeline.store import EmbeddingStore, open_current, teacher_dir
from pipeline.students.pretrained import file_sha256
from pipeline.train.config import TeacherSpec, TrainConfig
from pipeline.train.sampling import block_order, epoch_draws, rank_slice, uniform_weights, window_rows
from pipeline.train.targets import LabelTargets, Targets, load_targets, normalise_targets


@dataclass
class TrainData:
    """Everything the loop reads, aligned by corpus row (targets may be window-level)."""

    corpus: Corpus
    window: int                       # samples per training example at the corpus rate
    targets: Targets                  # .get(rows) -> (batch, out_dim); rows are window rows for window targets
    weights: np.ndarray               # (n_clips,) sampling weights, 0 on validation and invalid rows
    val_rows: np.ndarray              # corpus rows held out for validation
    window_clip: np.ndarray | None = None   # (n_windows,) for window-level targets
    window_start: np.ndarray | None = None  # (n_windows,) start sample of each window
    render: Renderer | None = None    # target row -> waveform (a plain window, or a view rebuilt exactly)
    meta: dict = field(default_factory=dict)  # fingerprints recorded in the checkpoint
    heads: tuple[TeacherSpec, ...] = ()  # one per teacher when several (targets are TeacherTargets); () = one head


def index_fingerprints(index_path: str, stores: Sequence[EmbeddingStore], pointers: str | None,
                       corpus_fingerprint: str) -> list[str]:
    """The stores a sampling index may be built from: those training reads and, given `pointers` (the embed stage's
    folder of store pointers), the current stores of the other teachers a joint index names, so a single-teacher
    student of the fusion study samples by the joint index of all teachers. A store re-embedded since is refused."""
    others = [] if pointers is None else [open_current(teacher_dir(pointers, t), corpus_fingerprint).fingerprint
                                          for t in read_meta(index_path).get("teachers") or []]
    return [s.fingerprint for s in stores] + others


def distill_data(cfg: TrainConfig, corpus: Corpus, stores: Sequence[EmbeddingStore], window: int,
                 index_path: str | None, pointers: str | None = None,
                 teachers: Sequence[TeacherSpec] = ()) -> TrainData:
    """Targets from the store(s); weights from the balanced index (or uniform); validation rows zero-weighted.

    Several stores train one head each, weighted by `teachers` (from `parse_teachers`; default: the stores'
    teachers, equal weights, `train.loss`). `pointers`: see `index_fingerprints`.
    """
    init = init_meta(cfg)  # a missing start checkpoint fails before the targets are read
    heads = teacher_heads(cfg, stores, teachers)
    for s in stores:
        s.require_complete(corpus.fingerprint)
    level = "clip" if cfg.target == "clip" else "window"  # view targets are rows of the window array
    targets = load_targets(stores, level, int(cfg.memory_budget_gb * (1 << 30)), max(16, cfg.block_chunks),
                           target_rows(cfg, stores[0]))
    clip_valid = np.logical_and.reduce([s.array("clip_valid")[:] for s in stores])
    if level == "window":  # a clip is usable when one of its windows is valid for every teacher at once
        clip_valid &= np.bincount(stores[0].array("window_clip")[:][targets.valid], minlength=len(corpus)) > 0
    if cfg.sampler == "balanced":
        if index_path is None:
            raise ValueError("train.sampler=balanced needs a cluster index (`ssondo cluster`, passed as --index)")
        weights, _ = load_index(index_path, index_fingerprints(index_path, stores, pointers, corpus.fingerprint))
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
    if heads:  # how the heads are built and weighted: part of the run's fingerprint and of student.pt
        meta.update({"teacher_dims": targets.dims, "teacher_weights": [h.weight for h in heads],
                     "teacher_losses": [h.loss for h in heads]})
    data = TrainData(corpus, window, targets, weights, val[clip_valid[val]], meta=meta, heads=heads)
    if level == "window":
        index = stores[0].row_index()
        data.window_clip, data.window_start = index["window_clip"], index["window_start"]
        data.render = Renderer(corpus, index, window)
    if cfg.target_norm != "none":
        data.targets = normalise_targets(targets, training_target_rows(data, cfg.seed), cfg.target_norm)
    return data


def target_rows(cfg: TrainConfig, store: EmbeddingStore) -> np.ndarray | None:
    """Which window rows training draws: `window`, the plain windows; `view`, the plain windows and the first
    `train.views` views (a clip's draw picks one of them uniformly); `clip`: None (clip rows)."""
    if cfg.target == "window":
        return store.plain_rows()
    if cfg.target == "view":
        if not store.views:
            raise ValueError(f"train.target=view: store {store.url} has no views; embed with embed.views > 0")
        if cfg.views is not None and cfg.views > store.views:
            raise ValueError(f"train.views={cfg.views}: store {store.url} holds {store.views} views per clip")
        return store.read("window_view") < (store.views if cfg.views is None else cfg.views)
    return None


def teacher_heads(cfg: TrainConfig, stores: Sequence[EmbeddingStore],
                  teachers: Sequence[TeacherSpec]) -> tuple[TeacherSpec, ...]:
    """One spec per store when there are several (named by the store's teacher), else () for today's one head."""
    names = [s.attrs.get("teacher") for s in stores]
    if len(stores) == 1:
        return ()
    if len(set(names)) != len(names):
        raise ValueError(f"train.teachers: two stores hold the same teacher ({names}); each head needs its own")
    specs = list(teachers) or [TeacherSpec(n, 1.0 / len(names), cfg.loss) for n in names]
    if [s.name for s in specs] != names:
        raise ValueError(f"train.teachers {[s.name for s in specs]} do not match the stores' teachers {names}")
    return tuple(specs)


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


def validation_rows(manifest, fraction: float) -> np.ndarray:
    """Rows marked split=valid/val/validation; otherwise a stable hash-based `fraction` of clip ids."""
    split = manifest["split"].astype(str).str.lower() if "split" in manifest else None
    if split is not None and split.isin(["valid", "val", "validation"]).any():
        return np.flatnonzero(split.isin(["valid", "val", "validation"]).to_numpy())
    h = np.array([int(hashlib.md5(c.encode()).hexdigest()[:8], 16) for c in manifest["clip_id"]])
    return np.flatnonzero(h % 10_000 < fraction * 10_000)


class PlanDataset(Dataset):
    """Item i -> (the example's `window` samples, i); reads run in DataLoader workers. Window-level plans read
    through `render` by target row (plain windows and views alike); clip plans read (rows[i], starts[i])."""

    def __init__(self, corpus: Corpus, plan: dict, window: int, render: Renderer | None = None):
        self.corpus, self.plan, self.window, self.render = corpus, plan, window, render

    def __len__(self) -> int:
        return len(self.plan["rows"])

    def __getitem__(self, i: int):
        if self.render is not None:
            return torch.from_numpy(self.render(int(self.plan["targets"][i]))), i
        return torch.from_numpy(self.corpus.segment(int(self.plan["rows"][i]), int(self.plan["starts"][i]),
                                                    self.window)), i


def epoch_plan(cfg: TrainConfig, data: TrainData, epoch: int, info: distributed.DistInfo) -> dict:
    """This rank's examples for one epoch: corpus rows, crop starts and target rows."""
    draws = rank_slice(epoch_draws(data.weights, cfg.epoch_size, cfg.seed, epoch), info.rank, info.world)
    rng = np.random.default_rng([cfg.seed, epoch, 2])
    if data.window_clip is not None:
        usable = np.flatnonzero(data.targets.valid)  # windows with a finite teacher output
        target_rows = usable[window_rows(draws, data.window_clip[usable], cfg.seed, epoch)]
        target_rows = block_order(target_rows, data.targets.chunk_rows, cfg.block_chunks, rng)
        return {"rows": data.window_clip[target_rows], "starts": data.window_start[target_rows],
                "targets": target_rows}
    draws = block_order(draws, data.targets.chunk_rows, cfg.block_chunks, rng)
    spare = np.maximum(data.corpus.lengths[draws] - data.window, 0)
    starts = (rng.random(len(draws)) * (spare + 1)).astype(np.int64)  # random crop of long clips
    return {"rows": draws, "starts": starts, "targets": draws}


def plan_loader(cfg: TrainConfig, dataset: Dataset, device: torch.device) -> DataLoader:
    """Batches of a plan in order (the plan is already shuffled), read ahead by `cfg.workers` processes."""
    return DataLoader(dataset, batch_size=cfg.batch_size, shuffle=False, drop_last=True, num_workers=cfg.workers,
                      pin_memory=device.type == "cuda", prefetch_factor=4 if cfg.workers else None)
