"""Resumable `prepare`: decoded inputs are committed in closed, checksummed part files listed in a progress file.

Layout of the parts folder (`<corpus folder>/parts` while a run is unfinished; removed once corpus.h5 is published):
    progress.json            {"run_key": str, "parts": [{"file", "start", "stop", "sha256"}, ...]}
    part-<start>.h5          table rows [start, stop): a small corpus of the kept clips (CorpusWriter's layout)
                             plus `rejected`, the JSON of its rejections [[row, reason, detail], ...] as uint8
An HDF5 file open for writing is not crash-safe, so a part is only ever read after it was closed, synced and
recorded; progress.json is replaced atomically after each part, so a kill loses the one part being written.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from pipeline.atomic import atomic_path, file_sha256, sync
from pipeline.corpus import CorpusWriter

PROGRESS_FILE = "progress.json"


def run_key(table: pd.DataFrame, settings: dict) -> str:
    """sha256 over `settings` and each input's clip id, path, size and mtime: equal keys decode to equal parts."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for clip_id, path in zip(table["clip_id"], table["path"]):
        try:
            st = os.stat(path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:  # a missing file is rejected by the decode, the same way on every run
            stamp = "-"
        h.update(f"{clip_id}\x00{path}\x00{stamp}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Part:
    """A committed part: table rows [start, stop) decoded into `file` (in the parts folder), with its sha256."""

    file: str
    start: int
    stop: int
    sha256: str


class PartWriter:
    """Streams the outcome of consecutive table rows from `start` on into one part file until `close()`."""

    def __init__(self, start: int, writer: CorpusWriter):
        self.start = self.stop = start
        self.writer = writer
        self.rejected: list[list] = []  # [row, reason, detail] per rejected row
        self.began = time.monotonic()

    def add(self, row: int, clip_id: str, clip: np.ndarray | tuple[bytes, int] | None, reason: str,
            detail: str) -> None:
        """Row `row`'s decode result: a clip (float32 samples, or encoded bytes and their length), or None and why."""
        if clip is None:
            self.rejected.append([row, reason, detail])
        elif isinstance(clip, tuple):
            self.writer.append_encoded(clip_id, *clip)
        else:
            self.writer.append(clip_id, clip)
        self.stop = row + 1

    def due(self, seconds: float, clips: int) -> bool:
        """Whether this part has run `seconds` or holds `clips` rows: time to commit it."""
        return time.monotonic() - self.began >= seconds or self.stop - self.start >= clips

    def close(self) -> Part:
        """Publish the part file, flushed to disk, and describe it."""
        blob = np.frombuffer(json.dumps(self.rejected).encode(), dtype=np.uint8)
        self.writer.close(extra={"rejected": blob})
        sync(self.writer.path)
        return Part(self.writer.path.name, self.start, self.stop, file_sha256(self.writer.path))

    def abort(self) -> None:
        """Drop the unfinished part file."""
        self.writer.abort()


class Progress:
    """The committed parts of one run (`folder`/progress.json), to resume it after a kill."""

    def __init__(self, folder: Path, key: str, parts: list[Part]):
        self.folder, self.key, self.parts = folder, key, parts

    @classmethod
    def resume(cls, folder: Path, key: str) -> Progress:
        """The parts of an interrupted run with this key that check out; says what it reuses or why it starts over."""
        parts, why = _recorded(folder / PROGRESS_FILE, key)
        if why:
            print(f"prepare: {why}; starting over", flush=True)
        good = [p for p in parts if (folder / p.file).is_file() and file_sha256(folder / p.file) == p.sha256]
        progress = cls(folder, key, good)
        if parts:
            redo = f"; {len(parts) - len(good)} part(s) failed their checksum and are decoded again" \
                if len(good) < len(parts) else ""
            print(f"prepare: resuming an interrupted run: {progress.covered()} input(s) in {len(good)} committed "
                  f"part(s) reused{redo}", flush=True)
        progress.tidy()
        return progress

    def tidy(self) -> None:
        """Record the parts, deleting every other file of the folder (unfinished or failed parts)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        keep = {p.file for p in self.parts} | {PROGRESS_FILE}
        for path in self.folder.iterdir():
            if path.name not in keep:
                path.unlink()
        self.save()

    def save(self) -> None:
        """Replace progress.json atomically with this list of parts."""
        with atomic_path(self.folder / PROGRESS_FILE) as tmp:
            tmp.write_text(json.dumps({"run_key": self.key, "parts": [asdict(p) for p in self.parts]}))

    def covered(self) -> int:
        """How many table rows the committed parts hold."""
        return sum(p.stop - p.start for p in self.parts)

    def todo(self, n_rows: int) -> list[int]:
        """The table rows no committed part holds, in order."""
        done = np.zeros(n_rows, dtype=bool)
        for p in self.parts:
            done[p.start:p.stop] = True
        return np.flatnonzero(~done).tolist()

    def part_path(self, start: int) -> Path:
        """Where the part starting at table row `start` is written."""
        return self.folder / f"part-{start:09d}.h5"

    def commit(self, part: Part) -> None:
        """Add a closed part to the record."""
        self.parts.append(part)
        self.save()

    def in_order(self) -> list[tuple[Path, Part]]:
        """Each committed part's file and record, by first row."""
        return [(self.folder / p.file, p) for p in sorted(self.parts, key=lambda p: p.start)]

    def remove(self) -> None:
        """Delete the folder once the corpus built from it is published."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _recorded(path: Path, key: str) -> tuple[list[Part], str]:
    """The parts `path` lists for run `key`, or none and why they cannot be reused ('' when there is no record)."""
    if not path.exists():
        return [], ""
    try:
        data = json.loads(path.read_text())
        parts = [Part(str(p["file"]), int(p["start"]), int(p["stop"]), str(p["sha256"])) for p in data["parts"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [], f"the progress file {path} is unreadable ({type(exc).__name__}: {exc})"
    if data.get("run_key") != key:
        return [], (f"the inputs or decode settings differ from those of the interrupted run in {path.parent} "
                    f"({len(parts)} committed part(s) dropped)")
    return parts, ""


def rejections(path: Path) -> list[list]:
    """A part file's rejections, [[row, reason, detail], ...] in row order."""
    with h5py.File(path, "r") as f:
        return json.loads(f["rejected"][:].tobytes())
