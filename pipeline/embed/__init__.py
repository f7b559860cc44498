"""Teacher embeddings of a corpus into a sharded store, resumable and shared by ranks.

    config    EmbedConfig (params `embed` + `audio` windows), EmbedResult
    windows   the window index (and views) of a corpus, the row dataset, chunk-aligned batches
    create    store attributes/fingerprint; creation by rank 0 or reopening
    commits   validity counts; the buffer that commits rows in the background
    claiming  shards taken one at a time by claim, waiting for other writers, finalising once
    run       `extract`: claim and resume shards, run the teacher, finalise
    report    the report a finished store keeps
    check     `reembed_check`: re-embed random rows and compare with the store
"""
from pipeline.embed.check import reembed_check, sample_rows
from pipeline.embed.commits import CommitBuffer
from pipeline.embed.config import EmbedConfig, EmbedResult
from pipeline.embed.create import open_or_create, store_meta
from pipeline.embed.report import REPORT, build_report, read_report
from pipeline.embed.run import extract, run_teacher
from pipeline.embed.windows import WindowDataset, plan_batches, window_index, with_views

__all__ = ["CommitBuffer", "EmbedConfig", "EmbedResult", "REPORT", "WindowDataset", "build_report", "extract",
           "open_or_create", "plan_batches", "read_report", "reembed_check", "run_teacher", "sample_rows",
           "store_meta", "window_index", "with_views"]
