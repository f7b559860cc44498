"""The decoded corpus: one HDF5 file with row-aligned clips, as raw samples or as per-clip encoded bytes.

Layout of `corpus.h5` with codec `pcm16` (raw samples, sample-level random access):
    audio        (total_samples,) int16 or float16   all clips back to back
    offset       (n_clips,) int64                    first sample of each clip in `audio`
    length       (n_clips,) int64                    samples per clip
With a compressed codec (flac, mp3, opus; see pipeline/audio/codecs.py), as EfficientAT stores AudioSet:
    bytes        (total_bytes,) uint8                each clip's encoded file, back to back
    byte_offset  (n_clips,) int64                    first byte of each clip in `bytes`
    byte_length  (n_clips,) int64                    encoded bytes per clip
    length       (n_clips,) int64                    samples per clip after decoding (decode trims/pads to it)
Both carry attrs sample_rate, sample_format, codec, fingerprint, n_clips, format_version (plus
compression_level for compressed codecs that have one).
Compressed clips are decoded whole on read (in the reading process, i.e. DataLoader workers); `segment` slices
the decoded clip, and the last decoded clip is kept so consecutive windows of one clip decode it once.
The row-aligned manifest (clip_id, path, duration, labels, split, ...) sits beside it as Parquet.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
import pandas as pd

# INT16_SCALE is re-exported: callers read it from here
from pipeline.audio.codecs import INT16_SCALE, CodecError, from_int16, get_codec, to_int16  # noqa: F401

FORMAT_VERSION = 2
SAMPLE_FORMATS = ("int16", "float16")
CORPUS_FILE = "corpus.h5"  # the HDF5 file inside a prepared corpus folder (`prepare` writes it)


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
        return to_int16(waveform)
    if sample_format == "float16":
        return waveform.astype(np.float16)
    raise CorpusError(f"sample_format must be one of {SAMPLE_FORMATS}, got {sample_format!r}")


def decode_samples(stored: np.ndarray) -> np.ndarray:
    """Stored dtype -> float32 waveform."""
    if stored.dtype == np.int16:
        return from_int16(stored)
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


def _starts(lengths: np.ndarray) -> np.ndarray:
    """Where each of back-to-back items of `lengths` begins."""
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else lengths


def encode_clip(waveform: np.ndarray, sample_rate: int, codec: str, compression_level: float | None = None) -> bytes:
    """A float32 clip -> the bytes a compressed `codec` stores (through int16, as the pcm16 corpus stores it)."""
    spec = get_codec(codec, compression_level)
    if spec is None:
        raise CorpusError(f"codec {codec!r} stores raw samples, not encoded bytes")
    return spec.encode(to_int16(waveform), sample_rate)


class CorpusWriter:
    """Appends clips to a temporary HDF5 file; `close()` writes indices and renames it into place."""

    def __init__(self, path: str | Path, sample_rate: int, sample_format: str = "int16",
                 settings: dict | None = None, chunk: int = 1 << 18, codec: str = "pcm16",
                 compression_level: float | None = None):
        if sample_format not in SAMPLE_FORMATS:
            raise CorpusError(f"sample_format must be one of {SAMPLE_FORMATS}, got {sample_format!r}")
        try:
            self.spec = get_codec(codec, compression_level)
        except CodecError as exc:
            raise CorpusError(str(exc)) from exc
        if self.spec is not None and sample_format != "int16":
            raise CorpusError(f"codec {codec!r} stores 16-bit audio; sample_format must be int16, "
                              f"got {sample_format!r}")
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sample_rate = sample_rate
        self.sample_format = sample_format
        self.codec = "pcm16" if self.spec is None else codec
        self.settings = dict(settings or {}, sample_rate=sample_rate, sample_format=sample_format, codec=self.codec)
        if self.spec is not None:
            self.settings["compression_level"] = self.spec.compression_level
        self.file = h5py.File(self.tmp, "w")
        name, dtype = ("audio", sample_format) if self.spec is None else ("bytes", np.uint8)
        self.data = self.file.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk,))
        self.clip_ids: list[str] = []
        self.lengths: list[int] = []
        self.byte_lengths: list[int] = []
        self.total = 0

    def append(self, clip_id: str, waveform: np.ndarray) -> None:
        """Add one clip (float32 mono at the corpus rate), encoding it here if the codec compresses."""
        if waveform.ndim != 1:
            raise CorpusError(f"clip {clip_id}: expected a 1-D waveform, got shape {waveform.shape}")
        if not np.isfinite(waveform).all():
            # int16 encoding would silently turn NaN into an arbitrary sample value
            raise CorpusError(f"clip {clip_id}: waveform holds NaN or Inf")
        if self.spec is not None:
            self.append_encoded(clip_id, self.spec.encode(to_int16(waveform), self.sample_rate), len(waveform))
            return
        self._extend(encode_samples(waveform, self.sample_format))
        self.clip_ids.append(clip_id)
        self.lengths.append(len(waveform))

    def append_encoded(self, clip_id: str, data: bytes, length: int) -> None:
        """Add one clip already encoded with this writer's codec (e.g. by `encode_clip` in a worker)."""
        if self.spec is None:
            raise CorpusError(f"clip {clip_id}: codec pcm16 stores samples; use append()")
        self._extend(np.frombuffer(data, dtype=np.uint8))
        self.clip_ids.append(clip_id)
        self.lengths.append(int(length))
        self.byte_lengths.append(len(data))

    def append_file(self, path: str | Path, clip_ids: Sequence[str]) -> None:
        """Add every clip of corpus file `path`, written with this writer's settings, as `clip_ids` (in its order)."""
        # the file's fingerprint proves it holds exactly these clips with these settings (e.g. a resumed part)
        with h5py.File(path, "r") as f:
            lengths = f["length"][:]
            if len(lengths) != len(clip_ids) or \
                    f.attrs["fingerprint"] != corpus_fingerprint(clip_ids, lengths, self.settings):
                raise CorpusError(f"{path} does not hold the {len(clip_ids)} clips expected with settings "
                                  f"{self.settings} ({len(lengths)} clips, fingerprint {f.attrs['fingerprint']})")
            source, step = f[self.data.name], self.data.chunks[0] * 64  # 64 chunks at a time: 32 MB of int16
            for begin in range(0, source.shape[0], step):
                self._extend(source[begin:begin + step])
            if self.spec is not None:
                self.byte_lengths.extend(f["byte_length"][:].tolist())
        self.clip_ids.extend(clip_ids)
        self.lengths.extend(lengths.tolist())

    def _extend(self, values: np.ndarray) -> None:
        n = values.shape[0]
        self.data.resize((self.total + n,))
        self.data[self.total:self.total + n] = values
        self.total += n

    def close(self, extra: dict[str, np.ndarray] | None = None) -> CorpusInfo:
        """Write the index arrays, fingerprint and `extra` datasets (name -> array); publish the file atomically."""
        for name, values in (extra or {}).items():
            self.file.create_dataset(name, data=values)
        lengths = np.asarray(self.lengths, dtype=np.int64)
        if self.spec is None:
            self.file.create_dataset("offset", data=_starts(lengths))
        else:
            byte_lengths = np.asarray(self.byte_lengths, dtype=np.int64)
            self.file.create_dataset("byte_offset", data=_starts(byte_lengths))
            self.file.create_dataset("byte_length", data=byte_lengths)
            if self.spec.compression_level is not None:
                self.file.attrs["compression_level"] = self.spec.compression_level
        self.file.create_dataset("length", data=lengths)
        fp = corpus_fingerprint(self.clip_ids, lengths, self.settings)
        self.file.attrs.update(sample_rate=self.sample_rate, sample_format=self.sample_format,
                               codec=self.codec, fingerprint=fp, n_clips=len(lengths),
                               format_version=FORMAT_VERSION)
        self.file.close()
        os.replace(self.tmp, self.path)
        return CorpusInfo(str(self.path), self.sample_rate, fp, len(lengths), self.sample_format, self.codec)

    def abort(self) -> None:
        """Drop the partial file (also when closing it fails, as it does on a full disk)."""
        with contextlib.suppress(OSError):  # dropped anyway; the caller re-raises the error that made it abort
            self.file.close()
        self.tmp.unlink(missing_ok=True)


class Corpus:
    """Read access to a corpus; the HDF5 handle is opened lazily in each process (DataLoader-safe)."""

    def __init__(self, path: str | Path):
        self.path = str(corpus_file(path))
        if not Path(self.path).exists():
            raise CorpusError(f"corpus file {self.path} does not exist; run `ssondo prepare` first")
        try:
            f = h5py.File(self.path, "r")
        except OSError as exc:
            raise CorpusError(f"corpus file {self.path} is not readable HDF5 ({exc}); re-run `ssondo prepare`") from exc
        with f:
            attrs = dict(f.attrs)
            self.codec = "pcm16" if str(attrs.get("codec", "pcm")) == "pcm" else str(attrs.get("codec"))
            try:
                level = attrs.get("compression_level")
                self.spec = get_codec(self.codec, None if level is None else float(level))
            except CodecError as exc:
                raise CorpusError(f"corpus file {self.path}: {exc}") from exc
            arrays = ("audio", "offset", "length") if self.spec is None else ("bytes", "byte_offset", "byte_length",
                                                                               "length")
            missing = [k for k in arrays if k not in f] + [k for k in ("fingerprint", "sample_rate") if k not in attrs]
            if missing:
                raise CorpusError(f"corpus file {self.path} is incomplete (missing {missing}); re-run `ssondo prepare`")
            self.lengths = f["length"][:]
            # offsets into `audio` (raw) or into `bytes` (compressed)
            self.offsets = f["offset"][:] if self.spec is None else f["byte_offset"][:]
            self.byte_lengths = None if self.spec is None else f["byte_length"][:]
        self.sample_rate = int(attrs["sample_rate"])
        self.fingerprint = str(attrs["fingerprint"])
        self.sample_format = str(attrs["sample_format"])
        self._file: h5py.File | None = None
        self._pid = -1
        self._last: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"], state["_pid"], state["_last"] = None, -1, None
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
        """`n` samples from `start` within clip `row`, zero-padded past the clip's end (float32).

        Compressed clips are decoded whole, then sliced (cheap for 10 s clips; the last clip is kept).
        """
        if start < 0 or n < 0:
            # a negative start would silently read the end of the previous clip
            raise ValueError(f"segment start and n must be >= 0, got start={start}, n={n}")
        length = int(self.lengths[row])
        stop = min(start + n, length)
        out = np.zeros(n, dtype=np.float32)
        if stop <= start:
            return out
        if self.spec is None:
            begin = int(self.offsets[row])
            out[: stop - start] = decode_samples(self._handle()["audio"][begin + start: begin + stop])
        else:
            out[: stop - start] = self._decoded(row)[start:stop]
        return out

    def _decoded(self, row: int) -> np.ndarray:
        """Clip `row` of a compressed corpus decoded whole (float32); the last one is reused."""
        if self._last is None or self._last[0] != row:
            begin = int(self.offsets[row])
            data = self._handle()["bytes"][begin: begin + int(self.byte_lengths[row])].tobytes()
            try:
                samples = self.spec.decode(data, self.sample_rate, int(self.lengths[row]))
            except CodecError as exc:
                raise CorpusError(f"corpus file {self.path}, row {row}: {exc}") from exc
            self._last = (row, from_int16(samples))
        return self._last[1]

    def manifest(self) -> pd.DataFrame:
        """The row-aligned manifest stored beside the HDF5 file."""
        return read_manifest(manifest_path(self.path), expected_rows=len(self))

    def close(self) -> None:
        """Close this process's HDF5 handle (reads reopen it)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def corpus_file(path: str | Path) -> Path:
    """The corpus HDF5 file of `path`: a prepared corpus folder (its `corpus.h5`) or the file itself."""
    path = Path(path)
    return path / CORPUS_FILE if path.is_dir() else path


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

