"""`ssondo store verify`: re-check a store from its files and report every problem in words."""
from __future__ import annotations

import warnings

import numpy as np

from pipeline.store.embeddings import EmbeddingStore, clip_means
from pipeline.store.layout import (FORMAT_VERSION, ROW_ARRAYS, VIEW_ARRAYS, VIEW_PARAMS, StoreLayout,
                                   shard_checksum, store_fingerprint)


def verify_store(url: str, corpus_fingerprint: str | None = None) -> list[str]:
    """Re-check a store from its files: attributes, shapes, ledger, shard checksums, invalid rows, clip means.

    Returns every problem found, in words; an empty list means the store is sound.
    """
    try:
        store = EmbeddingStore.open(url)
    except Exception as exc:  # a corrupt zarr.json or layout raises decode/type errors, not only StoreError
        return [f"cannot open the store: {type(exc).__name__}: {exc}"]
    problems = _check_attrs(store, corpus_fingerprint)
    broken = _check_arrays(store, problems)
    if not broken & {"window", "window_valid"}:
        problems += _check_ledger(store)
    if not broken & {"window_clip", "window_start", "window_length"}:
        problems += _check_index(store)
    if store.views and not broken & {"window_clip", *VIEW_ARRAYS}:
        problems += _check_views(store)
    if store.complete and not broken:
        problems += _check_clips(store)
    return problems


def _check_attrs(store: EmbeddingStore, corpus_fingerprint: str | None) -> list[str]:
    attrs, problems = store.attrs, []
    if attrs.get("format_version") != FORMAT_VERSION:
        problems.append(f"format_version {attrs.get('format_version')} (this package reads {FORMAT_VERSION})")
    if not store.complete:
        problems.append("store is not marked complete; re-run `ssondo embed` to resume it")
    try:
        if store_fingerprint(attrs) != attrs.get("store_fingerprint"):
            problems.append("store_fingerprint does not match the store's own teacher/corpus/window attributes")
    except KeyError as exc:
        problems.append(f"attribute {exc} is missing")
    if corpus_fingerprint is not None and attrs.get("corpus_fingerprint") != corpus_fingerprint:
        problems.append(f"built from corpus {attrs.get('corpus_fingerprint')}, but the given corpus is "
                        f"{corpus_fingerprint}")
    return problems


def expected_arrays(layout: StoreLayout, complete: bool, views: int = 0) -> dict[str, tuple[tuple[int, ...], str]]:
    """Array name -> (shape, dtype) a store with this layout (and this many views per clip) must hold."""
    rows = {"window": ((layout.n_windows, layout.dim), layout.dtype), "window_valid": ((layout.n_windows,), "bool")}
    rows.update({k: ((layout.n_windows,), "int64") for k in ROW_ARRAYS})
    if views:
        rows.update(window_view=((layout.n_windows,), "int64"), view_partner=((layout.n_windows,), "int64"),
                    view_params=((layout.n_windows, len(VIEW_PARAMS)), "float64"))
    if complete:
        rows.update(clip=((layout.n_clips, layout.dim), layout.dtype), clip_valid=((layout.n_clips,), "bool"))
    return rows


def _check_arrays(store: EmbeddingStore, problems: list[str]) -> set[str]:
    """Append shape/dtype problems; returns the names of arrays that are missing or wrong."""
    broken = set()
    for name, (shape, dtype) in expected_arrays(store.layout, store.complete, store.views).items():
        try:
            arr = store.group[name]
        except Exception as exc:  # missing or corrupt array zarr.json
            problems.append(f"array {name}: cannot open ({type(exc).__name__}: {exc})")
            broken.add(name)
            continue
        if tuple(arr.shape) != shape or np.dtype(arr.dtype) != np.dtype(dtype):
            problems.append(f"array {name}: {tuple(arr.shape)} {arr.dtype}, expected {shape} {dtype}")
            broken.add(name)
    return broken


def _check_ledger(store: EmbeddingStore) -> list[str]:
    n = store.layout.n_shards
    done = store.done_shards()
    problems = []
    if set(range(n)) - done:
        missing = sorted(set(range(n)) - done)
        problems.append(f"ledger: {len(missing)}/{n} shard(s) not written: {missing[:10]}")
    if done - set(range(n)):
        problems.append(f"ledger: entries for shards outside 0..{n - 1}: {sorted(done - set(range(n)))[:10]}")
    for shard in sorted(done & set(range(n))):
        problems += _check_shard(store, shard)
    return problems


def _check_shard(store: EmbeddingStore, shard: int) -> list[str]:
    """Recompute one shard's checksum from the stored bytes and re-count its invalid rows."""
    start, stop = store.layout.shard_range(shard)
    try:
        entry = store.ledger_entry(shard)
    except (OSError, ValueError) as exc:
        return [f"shard {shard}: unreadable ledger entry ({exc})"]
    try:
        emb = store.array("window")[start:stop]  # (rows, dim) in the stored dtype, as checksummed
        valid = store.array("window_valid")[start:stop]
    except Exception as exc:  # truncated or corrupt chunk files fail to decode
        return [f"shard {shard}: cannot decode rows {start}:{stop} ({type(exc).__name__}: {exc})"]
    problems = []
    if (entry.get("start"), entry.get("stop")) != (start, stop):
        problems.append(f"shard {shard}: ledger rows {entry.get('start')}:{entry.get('stop')}, layout {start}:{stop}")
    if shard_checksum(emb, valid) != entry.get("checksum"):
        problems.append(f"shard {shard}: checksum mismatch, stored rows {start}:{stop} differ from what was written")
    finite = np.isfinite(emb).all(axis=1)
    if not finite.all():
        problems.append(f"shard {shard}: {int((~finite).sum())} stored row(s) hold NaN/Inf")
    if np.any(emb[~valid] != 0):
        problems.append(f"shard {shard}: rows flagged invalid are not stored as zeros")
    flagged = int(entry.get("nan_rows", 0)) + int(entry.get("zero_rows", 0))
    if flagged != int((~valid).sum()):
        problems.append(f"shard {shard}: ledger counts {flagged} invalid row(s), the mask has {int((~valid).sum())}")
    return problems


def _check_index(store: EmbeddingStore) -> list[str]:
    clip_of = store.array("window_clip")[:]
    problems = []
    if len(clip_of) and (clip_of.min() < 0 or clip_of.max() >= store.layout.n_clips):
        problems.append(f"window_clip: values outside 0..{store.layout.n_clips - 1}")
    elif np.any(np.diff(clip_of) < 0):
        problems.append("window_clip: rows are not in corpus order")
    elif np.any(np.bincount(clip_of, minlength=store.layout.n_clips) == 0):
        problems.append("window_clip: some clips have no window")
    if np.any(store.array("window_start")[:] < 0) or np.any(store.array("window_length")[:] < 0):
        problems.append("window_start/window_length: negative values")
    return problems


def _check_views(store: EmbeddingStore) -> list[str]:
    """Every clip has views 0..K-1 once each, after its plain windows; partners are other clips."""
    clip_of, view = store.read("window_clip"), store.read("window_view")
    partner, k, n = store.read("view_partner"), store.views, store.layout.n_clips
    problems = []
    is_view = view >= 0
    if np.any(view < -1) or np.any(view >= k):
        problems.append(f"window_view: values outside -1..{k - 1}")
    elif not np.array_equal(np.sort(view[is_view] + k * clip_of[is_view]), np.arange(n * k)):
        problems.append(f"window_view: not exactly views 0..{k - 1} once for every clip")
    if np.any(partner[~is_view] != -1) or np.any((partner < -1) | (partner >= n)) or np.any(partner == clip_of):
        problems.append("view_partner: a plain window with a partner, a partner outside the corpus, or a clip mixed "
                        "with itself")
    return problems


def _check_clips(store: EmbeddingStore) -> list[str]:
    """The clip arrays must equal the mean of each clip's valid windows (up to the stored dtype's rounding)."""
    try:
        means, counts = clip_means(store)
        clip, clip_valid = store.array("clip")[:].astype(np.float64), store.array("clip_valid")[:]
    except Exception as exc:
        return [f"clip: cannot recompute clip means ({type(exc).__name__}: {exc})"]
    problems = []
    if not np.array_equal(clip_valid, counts > 0):
        problems.append(f"clip_valid: {int((clip_valid != (counts > 0)).sum())} clip(s) disagree with window_valid")
    eps = float(np.finfo(store.layout.dtype).eps)
    err = np.abs(clip - means) / np.maximum(np.abs(means), 1e-3)
    if not np.all(np.isfinite(clip)) or err.max(initial=0.0) > eps:
        problems.append(f"clip: differs from the mean of valid windows (max relative error {err.max():.3g})")
    return problems


def store_contents(url: str) -> dict:
    """Every array's dtype, shape and bytes, each shard's ledger checksum and completeness: equal for equal stores."""
    store = EmbeddingStore.open(url)
    with warnings.catch_warnings():  # zarr warns about the ledger folder and report.json beside the arrays
        warnings.simplefilter("ignore")
        names = sorted(store.group.array_keys())
    arrays = {k: (a.dtype.str, a.shape, a.tobytes()) for k in names for a in [store.array(k)[:]]}
    return {"arrays": arrays, "ledger": {s: store.ledger_entry(s)["checksum"] for s in sorted(store.done_shards())},
            "complete": store.complete}
