"""Writing file embeddings: Parquet (rows + an `embedding` list column), .npy or Zarr (+ a rows CSV beside it).

Failures always go to `<name>.errors.csv` next to the output (header only when none), so a stale list
from an earlier run never survives.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.inference.files import FileEmbeddings


def sidecar(path: Path, kind: str) -> Path:
    """`embeddings.parquet` -> `embeddings.<kind>.csv` in the same folder."""
    return path.with_name(f"{path.stem}.{kind}.csv")


def write_parquet(path: Path, result: FileEmbeddings, meta: dict) -> list[Path]:
    """One Parquet file; `embedding` is a fixed-size float32 list column; `meta` in the schema metadata."""
    dim = result.embeddings.shape[1]
    table = pa.Table.from_pandas(result.rows, preserve_index=False) if len(result.rows) else pa.table({})
    column = pa.FixedSizeListArray.from_arrays(pa.array(result.embeddings.reshape(-1)), dim)
    table = table.append_column("embedding", column)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"ssondo": json.dumps(meta).encode()})
    pq.write_table(table, path)
    return [path]


def write_npy(path: Path, result: FileEmbeddings, meta: dict) -> list[Path]:
    """(rows, dim) float32 `.npy` plus `<name>.rows.csv` (row order) and `<name>.meta.json`."""
    np.save(path, result.embeddings)
    result.rows.to_csv(sidecar(path, "rows"), index=False)
    meta_path = path.with_name(f"{path.stem}.meta.json")
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return [path, sidecar(path, "rows"), meta_path]


def write_zarr(path: Path, result: FileEmbeddings, meta: dict) -> list[Path]:
    """A Zarr group with array `embeddings` (rows, dim) and `meta` as attributes, plus `<name>.rows.csv`."""
    import zarr

    if path.exists():
        shutil.rmtree(path)
    group = zarr.open_group(str(path), mode="w", attributes=meta)
    rows = max(1, min(len(result.embeddings), 4096))
    group.create_array("embeddings", data=result.embeddings, chunks=(rows, result.embeddings.shape[1]))
    result.rows.to_csv(sidecar(path, "rows"), index=False)
    return [path, sidecar(path, "rows")]


WRITERS: dict[str, Callable[[Path, FileEmbeddings, dict], list[Path]]] = {
    ".parquet": write_parquet,
    ".npy": write_npy,
    ".zarr": write_zarr,
}


def check_output(path: str | Path) -> Path:
    """The output path, if its extension names a known format (fails before any work is done)."""
    path = Path(path)
    if path.suffix.lower() not in WRITERS:
        raise ValueError(f"unknown output format {path.suffix!r} for {path}; valid: {sorted(WRITERS)}")
    return path


def write_embeddings(path: str | Path, result: FileEmbeddings, meta: dict) -> list[Path]:
    """Write `result` in the format named by the extension, plus the errors CSV; returns the files written."""
    path = check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = WRITERS[path.suffix.lower()](path, result, meta)
    result.errors.to_csv(sidecar(path, "errors"), index=False)
    return written + [sidecar(path, "errors")]
