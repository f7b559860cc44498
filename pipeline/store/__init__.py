"""The embedding store: one Zarr v3 group per (teacher, corpus, window settings).

Arrays, all aligned by row:
    window         (n_windows, dim)  float16/32  teacher embedding of each window
    window_valid   (n_windows,)      bool        False where the teacher gave NaN/Inf
    window_clip    (n_windows,)      int64       corpus row of each window
    window_start   (n_windows,)      int64       first sample (corpus rate) of each window
    window_length  (n_windows,)      int64       real (unpadded) samples in each window
    window_view    (n_windows,)      int64       only with embed.views: -1 for a plain window, else the view index
    view_partner   (n_windows,)      int64       ... the clip mixed into the view (-1: none)
    view_params    (n_windows, 4)    float64     ... shift, gain_db, partner_start, mix_db (pipeline/audio/views.py)
    clip           (n_clips, dim)    float16/32  mean of the clip's valid plain windows (written at finalise)
    clip_valid     (n_clips,)        bool        the clip has at least one valid window
Work is split into shards of `shard_rows` window rows; a writer holds whole shards by claim (`claims/`, see
claims.py: several writers, on one disk or an object store, split a store's shards), and a shard counts as
written only once its ledger entry (`ledger/shard-NNNNNN.json`, with a checksum) exists. Inside an unfinished shard,
rows are committed in order: each commit is written, then recorded with its checksum in the shard's progress record
(`ledger/progress-NNNNNN.json`); a resumed run re-checks those rows and starts after them.

Modules: layout (shapes, fingerprint, checksums, errors), embeddings (EmbeddingStore), claims (writers' leases on
shards), pointer (store.json: which store a checkout uses), verify (`ssondo store verify`).
"""
from pipeline.store.embeddings import EmbeddingStore, clip_means
from pipeline.store.layout import (COUNTS, EMBEDDING_ARRAYS, FORMAT_VERSION, ROW_ARRAYS, VIEW_ARRAYS, StoreError,
                                   StoreLayout, open_group, remote_errors, shard_checksum, store_fingerprint,
                                   write_every_chunk)
from pipeline.store.pointer import (POINTER, current_url, open_current, require_reachable, store_url, teacher_dir,
                                    write_pointer)
from pipeline.store.verify import expected_arrays, store_contents, verify_store

__all__ = ["COUNTS", "EMBEDDING_ARRAYS", "FORMAT_VERSION", "POINTER", "ROW_ARRAYS", "VIEW_ARRAYS", "EmbeddingStore",
           "StoreError", "StoreLayout", "clip_means", "current_url", "expected_arrays", "open_current", "open_group",
           "remote_errors", "require_reachable", "shard_checksum", "store_contents", "store_fingerprint", "store_url",
           "teacher_dir", "verify_store", "write_every_chunk", "write_pointer"]
