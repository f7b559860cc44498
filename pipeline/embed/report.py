"""The report a finished store keeps beside its rows (throughput of the run that finished it, whole-store counts)."""
from __future__ import annotations

import json

import fsspec

from pipeline.corpus import Corpus
from pipeline.store import EmbeddingStore

REPORT = "report.json"  # inside the store folder, so a reused store returns its own report


def build_report(store: EmbeddingStore, corpus: Corpus, windows_run: int, windows_reused: int, run_audio: float,
                 seconds: float) -> dict:
    """Summary of a finished store (this run's throughput on this rank, rows reused from earlier runs on all ranks,
    plus whole-store counts)."""
    entries = [store.ledger_entry(s) for s in sorted(store.done_shards())]
    audio_s = float(corpus.lengths.sum()) / corpus.sample_rate
    return {"teacher": store.attrs["teacher"], "store": store.url, "store_fingerprint": store.fingerprint,
            "clips": store.layout.n_clips, "windows": store.layout.n_windows, "dim": store.layout.dim,
            "views": store.views, "view_rows": store.views * store.layout.n_clips,
            "audio_seconds": audio_s, "windows_this_run": windows_run, "windows_reused": windows_reused,
            "seconds_this_run": seconds, "windows_per_second": windows_run / seconds if seconds > 0 else None,
            "realtime_factor": run_audio / seconds if seconds > 0 else None,
            "nan_rows": sum(e["nan_rows"] for e in entries), "zero_rows": sum(e["zero_rows"] for e in entries),
            "invalid_clips": int((~store.array("clip_valid")[:]).sum())}


def read_report(url: str) -> dict:
    """The report written by the run that finished the store at `url` (empty if none)."""
    fs, root = fsspec.core.url_to_fs(f"{url.rstrip('/')}/{REPORT}")
    if not fs.exists(root):
        return {}
    with fs.open(root, "r") as f:
        return json.load(f)
