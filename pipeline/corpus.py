"""The decoded corpus: one HDF5 file with a flat sample array and row-aligned offsets/lengths.

Layout of `corpus.h5`:
    audio   (total_samples,) int16 or float16   all clips back to back
    offset  (n_clips,) int64                    first sample of each clip in `audio`
    length  (n_clips,) int64                    samples per clip
    attrs   sample_rate, sample_format, codec, fingerprint, n_clips, format_version
The row-aligned manifest (clip_id, path, duration, labels, split, ...) sits beside it as Parquet.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np
import pandas as pd

FORMAT_VERSION = 1
INT16_SCALE = 32767.0
SAMPLE_FORMATS = ("int16", "float16")


class CorpusError(Exception):
    """The corpus file is missing, incomplete or does not match what a stage expects."""


def corpus_fingerprint(clip_ids: Sequence[str], lengths: Sequence[int], settings: dict) -> str:
    """Short sha256 over clip ids, clip lengths and the decode settings."""
    h = hashlib.sha256()
    for key in sorted(settings):
        h.update(f"{key}={settings[key]};".encode())
    for cid, n in zip(clip_ids, lengths):
        h.update(f"{cid}\x00{int(n)}\n".encode())
    return h.hexdigest()[:16]


def encode_samples(waveform: np.ndarray, sample_format: str) -> np.ndarray:
    """float32 in [-1, 1] -> stored dtype (int16 clips to full scale)."""
    if sample_format == "int16":
        return np.round(np.clip(waveform, -1.0, 1.0) * INT16_SCALE).astype(np.int16)
    if sample_format == "float16":
        return waveform.astype(np.float16)
    raise CorpusError(f"sample_format must be one of {SAMPLE_FORMATS}, got {sample_format!r}")


def decode_samples(stored: np.ndarray) -> np.ndarray:
    """Stored dtype -> float32 waveform."""
    if stored.dtype == np.int16:
        return stored.astype(np.float32) / INT16_SCALE
    return stored.astype(np.float32)


@dataclass(frozen=True)
class CorpusInfo:
    """What later stages need to know about a corpus without opening its audio."""

    path: str
    sample_rate: int
    fingerprint: str
    n_clips: int
    sample_format: str
    codec: str


class CorpusWriter:
    """Appends clips to a temporary HDF5 file; `close()` writes indices and renames it into place."""

    def __init__(self, path: str | Path, sample_rate: int, sample_format: str = "int16",
                 settings: dict | None = None, chunk: int = 1 << 18):
        if sample_format not in SAMPLE_FORMATS:
            raise CorpusError(f"sample_format must be one of {SAMPLE_FORMATS}, got {sample_format!r}")
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sample_rate = sample_rate
        self.sample_format = sample_format
        self.settings = dict(settings or {}, sample_rate=sample_rate, sample_format=sample_format)
        self.file = h5py.File(self.tmp, "w")
        self.audio = self.file.create_dataset("audio", shape=(0,), maxshape=(None,),
                                              dtype=sample_format, chunks=(chunk,))
        self.clip_ids: list[str] = []
        self.lengths: list[int] = []
        self.total = 0

    def append(self, clip_id: str, waveform: np.ndarray) -> None:
        """Add one clip (float32 mono at the corpus rate)."""
        if waveform.ndim != 1:
            raise CorpusError(f"clip {clip_id}: expected a 1-D waveform, got shape {waveform.shape}")
        if not np.isfinite(waveform).all():
            # int16 encoding would silently turn NaN into an arbitrary sample value
            raise CorpusError(f"clip {clip_id}: waveform holds NaN or Inf")
        stored = encode_samples(waveform, self.sample_format)
        n = stored.shape[0]
        self.audio.resize((self.total + n,))
        self.audio[self.total:self.total + n] = stored
        self.clip_ids.append(clip_id)
        self.lengths.append(n)
        self.total += n

    def close(self) -> CorpusInfo:
        """Write the index arrays and fingerprint, then atomically publish the file."""
        lengths = np.asarray(self.lengths, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else lengths
        self.file.create_dataset("offset", data=offsets)
        self.file.create_dataset("length", data=lengths)
        fp = corpus_fingerprint(self.clip_ids, lengths, self.settings)
        self.file.attrs.update(sample_rate=self.sample_rate, sample_format=self.sample_format,
                               codec="pcm", fingerprint=fp, n_clips=len(lengths),
                               format_version=FORMAT_VERSION)
        self.file.close()
        os.replace(self.tmp, self.path)
        return CorpusInfo(str(self.path), self.sample_rate, fp, len(lengths), self.sample_format, "pcm")

    def abort(self) -> None:
        """Drop the partial file."""
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class Corpus:
    """Read access to a corpus; the HDF5 handle is opened lazily in each process (DataLoader-safe)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if not Path(self.path).exists():
            raise CorpusError(f"corpus file {self.path} does not exist; run `ssondo prepare` first")
        try:
            f = h5py.File(self.path, "r")
        except OSError as exc:
            raise CorpusError(f"corpus file {self.path} is not readable HDF5 ({exc}); re-run `ssondo prepare`") from exc
        with f:
            missing = [k for k in ("audio", "offset", "length") if k not in f] + \
                      [k for k in ("fingerprint", "sample_rate") if k not in f.attrs]
            if missing:
                raise CorpusError(f"corpus file {self.path} is incomplete (missing {missing}); re-run `ssondo prepare`")
            self.offsets = f["offset"][:]
            self.lengths = f["length"][:]
            attrs = dict(f.attrs)
        self.sample_rate = int(attrs["sample_rate"])
        self.fingerprint = str(attrs["fingerprint"])
        self.sample_format = str(attrs["sample_format"])
        self.codec = str(attrs.get("codec", "pcm"))
        self._file: h5py.File | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.lengths)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, -1
        return state

    @property
    def info(self) -> CorpusInfo:
        """Path, rate, fingerprint and format as a small value object."""
        return CorpusInfo(self.path, self.sample_rate, self.fingerprint, len(self), self.sample_format, self.codec)

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def clip(self, row: int) -> np.ndarray:
        """The whole clip at `row` as float32."""
        return self.segment(row, 0, int(self.lengths[row]))

    def segment(self, row: int, start: int, n: int) -> np.ndarray:
        """`n` samples from `start` within clip `row`, zero-padded past the clip's end (float32)."""
        if start < 0 or n < 0:
            # a negative start would silently read the end of the previous clip
            raise ValueError(f"segment start and n must be >= 0, got start={start}, n={n}")
        length = int(self.lengths[row])
        stop = min(start + n, length)
        begin = int(self.offsets[row])
        out = np.zeros(n, dtype=np.float32)
        if stop > start:
            out[: stop - start] = decode_samples(self._handle()["audio"][begin + start: begin + stop])
        return out

    def manifest(self) -> pd.DataFrame:
        """The row-aligned manifest stored beside the HDF5 file."""
        return read_manifest(manifest_path(self.path), expected_rows=len(self))

    def close(self) -> None:
        """Close this process's HDF5 handle (reads reopen it)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def manifest_path(corpus_path: str | Path) -> Path:
    """Where the manifest of a corpus lives (`manifest.parquet` in the same folder)."""
    return Path(corpus_path).with_name("manifest.parquet")


def read_manifest(path: str | Path, expected_rows: int | None = None) -> pd.DataFrame:
    """Read a corpus manifest, checking it is row-aligned with the corpus."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"manifest {path} does not exist; re-run `ssondo prepare`")
    df = pd.read_parquet(path)
    if expected_rows is not None and len(df) != expected_rows:
        raise CorpusError(f"manifest {path} has {len(df)} rows but the corpus has {expected_rows}")
    return df


def iter_rows(corpus: Corpus, rows: Iterable[int]):
    """Yield (row, waveform) for the given rows."""
    for row in rows:
        yield int(row), corpus.clip(int(row))
