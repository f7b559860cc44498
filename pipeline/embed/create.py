"""A store's identity and birth: the attributes that fingerprint it, and its creation (once, by rank 0) or reopening."""
from __future__ import annotations

import time

import fsspec

from pipeline import distributed
from pipeline.audio.views import draw_views, view_seed
from pipeline.corpus import Corpus
from pipeline.embed.config import EmbedConfig
from pipeline.embed.windows import window_index, with_views
from pipeline.store import EmbeddingStore, StoreError, StoreLayout, store_fingerprint
from pipeline.store.claims import CLAIMS, Claims
from pipeline.teachers.base import Teacher


def store_meta(cfg: EmbedConfig, teacher: Teacher, corpus: Corpus) -> dict:
    """Store attributes; they also decide the store's fingerprint (its folder name)."""
    meta = {"teacher": teacher.name, "teacher_fingerprint": teacher.fingerprint,
            "teacher_sample_rate": int(teacher.sample_rate), "corpus_fingerprint": corpus.fingerprint,
            "corpus_sample_rate": corpus.sample_rate, "window_seconds": cfg.window_seconds,
            "hop_seconds": cfg.hop_seconds, "last_window": cfg.last_window, "dtype": cfg.dtype, "pooling": "mean"}
    if cfg.views:  # absent without views: stores made before views existed keep their fingerprints
        meta.update(views=cfg.views, view_augment=cfg.view_augment.settings())
    meta["store_fingerprint"] = store_fingerprint(meta)
    return meta


def opens(url: str) -> EmbeddingStore | None:
    """The store at `url`, or None while there is none or its creation has not finished."""
    fs, root = fsspec.core.url_to_fs(url)
    fs.invalidate_cache(root)  # another writer may have created it since this client last listed the folder
    if not fs.exists(f"{root}/zarr.json"):
        return None
    try:
        return EmbeddingStore.open(url)
    except (StoreError, ValueError):  # attrs are written last by `create`; a kill before leaves no layout
        return None


def open_or_create(url: str, cfg: EmbedConfig, meta: dict, corpus: Corpus, dim: int,
                   info: distributed.DistInfo, claims: Claims) -> EmbeddingStore:
    """Rank 0 creates the store if needed, under the `create` claim (so of two runs meeting on a new store one creates
    it and the other waits for it); every rank then opens it."""
    while info.is_main and opens(url) is None:
        if claims.take("create"):
            try:
                if opens(url) is None:
                    _create(url, cfg, meta, corpus, dim)
            finally:
                claims.release("create")
        else:
            time.sleep(claims.poll)
    distributed.barrier()
    return EmbeddingStore.open(url, mode="r+")


def _create(url: str, cfg: EmbedConfig, meta: dict, corpus: Corpus, dim: int) -> None:
    """Create the store's arrays and attributes (replacing what a creation cut off left)."""
    fs, root = fsspec.core.url_to_fs(url)
    if fs.exists(f"{root}/ledger"):  # shards were written, so creation had finished: this is damage
        raise StoreError(f"{url} holds written shards but cannot be opened; inspect it with "
                         f"`ssondo store verify {url}` or delete it to start over")
    if fs.exists(root):  # what a cut-off creation left, but not the claims (ours on `create` among them)
        for path in fs.ls(root, detail=False):
            if path.rstrip("/").rsplit("/", 1)[-1] != CLAIMS:
                fs.rm(path, recursive=True)
    window = int(round(cfg.window_seconds * corpus.sample_rate))
    hop = int(round(cfg.hop_seconds * corpus.sample_rate))
    index = window_index(corpus.lengths, window, hop, cfg.last_window)
    if cfg.views:
        drawn = draw_views(corpus.lengths, cfg.views, window, corpus.sample_rate, cfg.view_augment,
                           view_seed(corpus.fingerprint, cfg.view_augment))
        index = with_views(index, drawn, corpus.lengths, window)
    layout = StoreLayout(len(corpus), len(index["window_clip"]), dim, cfg.dtype, cfg.chunk_rows, cfg.shard_rows)
    EmbeddingStore.create(url, layout, meta, index)
