"""Turn a folder of audio files or a manifest into one decoded HDF5 corpus plus a rejection report."""
from __future__ import annotations

import math
import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Union

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.atomic import atomic_path
from pipeline.audio.codecs import CODEC_NAMES, CodecError
from pipeline.audio.decode import DecodeError, decode
from pipeline.config import check
from pipeline.corpus import CORPUS_FILE, CorpusInfo, CorpusWriter, encode_clip, manifest_path
from pipeline.prepare_parts import PartWriter, Progress, rejections, run_key

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".au", ".w64", ".caf")
# a decoded clip: float32 samples (pcm16), or (encoded bytes, samples) for compressed codecs
Clip = Union[np.ndarray, tuple[bytes, int]]
# AudioSet segment CSVs: "# YTID, start_seconds, end_seconds, positive_labels"
AUDIOSET_COLUMNS = ("ytid", "start_seconds", "end_seconds", "positive_labels")
PARTS_FOLDER = "parts"  # inside the corpus folder: the committed parts of an unfinished run (pipeline.prepare_parts)


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of the `prepare` stage (params section `prepare` plus `audio.sample_rate`)."""

    input: str                        # folder to scan, or a manifest / AudioSet CSV
    output: str                       # corpus folder: corpus.h5, manifest.parquet, rejected.csv
    sample_rate: int = 32000
    sample_format: Literal["int16", "float16"] = "int16"
    min_seconds: float = 0.1
    max_seconds: float | None = None
    fail_on_reject: bool = False
    workers: int = 0
    root: str | None = None
    allow_outside_root: bool = False
    path_template: str = "{ytid}.wav"
    codec: str = "pcm16"
    compression_level: float | None = None
    commit_seconds: float = 60.0
    commit_clips: int = 4096

    def __post_init__(self):
        check(self.sample_rate >= 1000, "audio.sample_rate", f"must be >= 1000 Hz, got {self.sample_rate}")
        check(math.isfinite(self.min_seconds) and self.min_seconds >= 0, "prepare.min_seconds",
              f"must be a finite number >= 0, got {self.min_seconds}")
        check(self.max_seconds is None or (math.isfinite(self.max_seconds) and self.max_seconds > self.min_seconds),
              "prepare.max_seconds",
              f"must be null or a finite number greater than min_seconds ({self.min_seconds}), got {self.max_seconds}")
        check(self.workers >= 0, "prepare.workers", f"must be >= 0 (0 = all cores), got {self.workers}")
        check(_formats(self.path_template), "prepare.path_template",
              f"must be a format string using only {{ytid}}, {{start}}, {{end}}, got {self.path_template!r}")
        check(self.codec in CODEC_NAMES, "prepare.codec", f"{self.codec!r} is not one of {list(CODEC_NAMES)}")
        check(self.codec == "pcm16" or self.sample_format == "int16", "prepare.sample_format",
              f"codec {self.codec} stores 16-bit audio; sample_format must be int16, got {self.sample_format!r}")
        check(self.compression_level is None or (self.codec != "pcm16" and 0 <= self.compression_level <= 1),
              "prepare.compression_level",
              f"must be null, or in [0, 1] with a compressed codec (codec is {self.codec}), "
              f"got {self.compression_level}")
        check(math.isfinite(self.commit_seconds) and self.commit_seconds >= 0, "prepare.commit_seconds",
              f"must be a finite number >= 0, got {self.commit_seconds}")
        check(self.commit_clips >= 1, "prepare.commit_clips", f"must be >= 1, got {self.commit_clips}")

    def decode_settings(self) -> dict:
        """The settings that change decoded samples (they enter the corpus fingerprint)."""
        return {"sample_rate": self.sample_rate, "sample_format": self.sample_format,
                "max_seconds": self.max_seconds, "codec": self.codec,
                "compression_level": self.compression_level}

    def writer(self, path: Path) -> CorpusWriter:
        """A corpus writer with these settings (for the corpus and for each of its parts)."""
        return CorpusWriter(path, self.sample_rate, self.sample_format, self.decode_settings(), codec=self.codec,
                            compression_level=self.compression_level)


@dataclass(frozen=True)
class PrepareResult:
    """What `prepare_corpus` produced."""

    corpus: CorpusInfo
    n_rejected: int
    seconds: float
    reused: int   # inputs whose outcome an interrupted run had committed
    decoded: int  # inputs decoded by this run


def _formats(template: str) -> bool:
    try:
        template.format(ytid="x", start=0.0, end=10.0)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError):
        return False
    return True


def scan_folder(folder: Path, allow_outside: bool = False) -> tuple[pd.DataFrame, list[dict]]:
    """Audio files below `folder` (sorted, relative to it; clip id = path without extension) and the rejections."""
    # a link out of the folder is rejected unopened (unless allowed); one inside it, or a loop, is not walked twice
    root = Path(os.path.realpath(folder))
    found, rejected, walked, todo = [], [], set(), [folder]
    while todo:
        here = todo.pop()
        if os.path.realpath(here) in walked:  # reached again through links, maybe round a loop
            continue
        walked.add(os.path.realpath(here))
        for entry in _listing(here, folder, rejected):
            path, kind = Path(entry.path), _kind(entry)
            if kind is None or (kind == "file" and path.suffix.lower() not in AUDIO_EXTENSIONS):
                continue
            if entry.is_symlink() and not _follows(path, kind, folder, root, allow_outside, rejected):
                continue
            if kind == "dir":
                todo.append(path)
            else:
                found.append(path.relative_to(folder))
    found.sort()
    return (pd.DataFrame({"path": [r.as_posix() for r in found],
                          "clip_id": [r.with_suffix("").as_posix() for r in found]}, dtype=str),
            sorted(rejected, key=lambda r: r["path"]))


def _listing(here: Path, folder: Path, rejected: list[dict]) -> list[os.DirEntry]:
    """The entries of folder `here`; none, and an `unreadable` rejection, if it cannot be listed."""
    try:
        return list(os.scandir(here))
    except OSError as exc:
        rel = here.relative_to(folder).as_posix()
        rejected.append({"clip_id": rel, "path": rel, "reason": "unreadable", "detail": f"cannot list: {exc}"})
        return []


def _kind(entry: os.DirEntry) -> str | None:
    """'dir' or 'file', following links (plain entries need no system call); None for a broken link or a loop."""
    try:
        return "dir" if entry.is_dir() else "file" if entry.is_file() else None
    except OSError:
        return None


def _follows(link: Path, kind: str, folder: Path, root: Path, allow: bool, rejected: list[dict]) -> bool:
    """Whether to follow a link: not out of the root unless allowed (rejected), nor into a folder walked as itself."""
    rel, real = link.relative_to(folder), Path(os.path.realpath(link))
    rejection = outside_root(rel.with_suffix("").as_posix(), rel.as_posix(), real, root, allow)
    if rejection:
        rejected.append(rejection)
    return rejection is None and not (kind == "dir" and real.is_relative_to(root))


def read_input_manifest(path: Path, template: str) -> pd.DataFrame:
    """A CSV/Parquet manifest with `path` (or AudioSet columns), optional clip_id/label(s)/split."""
    df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else _read_csv(path)
    df.columns = [str(c).strip().lstrip("#").strip() for c in df.columns]
    lower = {c.lower(): c for c in df.columns}
    if "path" not in df.columns and all(c in lower for c in AUDIOSET_COLUMNS):
        df = _from_audioset(df.rename(columns={lower[c]: c for c in AUDIOSET_COLUMNS}), template)
    if "path" not in df.columns:
        raise ValueError(f"manifest {path} needs a `path` column (or AudioSet columns {list(AUDIOSET_COLUMNS)}); "
                         f"found {list(df.columns)}")
    if "label" in df.columns and "labels" not in df.columns:
        df = df.rename(columns={"label": "labels"})
    if "clip_id" not in df.columns:
        df["clip_id"] = [os.path.splitext(str(p))[0] for p in df["path"]]
    return df.astype({"path": str, "clip_id": str})


def _read_csv(path: Path) -> pd.DataFrame:
    """All cells as text; the header may be the last leading `#` line (AudioSet: `# YTID, start_seconds, ...`)."""
    comments = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for line in f:
            if not line.startswith("#"):
                break
            comments.append(line)
    names = [c.strip() for c in comments[-1].lstrip("#").split(",")] if comments else []
    if not {n.lower() for n in names} & {"path", "ytid"}:
        names = []
    return pd.read_csv(path, skiprows=len(comments), header=None if names else 0, names=names or None,
                       skipinitialspace=True, quotechar='"', dtype=str, keep_default_na=False,
                       encoding="utf-8-sig")


def _from_audioset(df: pd.DataFrame, template: str) -> pd.DataFrame:
    df = df[~df["ytid"].astype(str).str.startswith("#")].copy()
    df["clip_id"] = [f"{y}_{float(s):.3f}" for y, s in zip(df["ytid"], df["start_seconds"])]
    df["path"] = [template.format(ytid=y, start=float(s), end=float(e))
                  for y, s, e in zip(df["ytid"], df["start_seconds"], df["end_seconds"])]
    return df.rename(columns={"positive_labels": "labels"})


def outside_root(clip_id: str, path: str, full: Path, root: Path, allow: bool) -> dict | None:
    """The root rule of manifests and folder scans: the `outside_root` rejection of `full` (None: inside/allowed)."""
    if allow or full.is_relative_to(root):
        return None
    return {"clip_id": clip_id, "path": path, "reason": "outside_root",
            "detail": f"resolves outside {root}; set prepare.allow_outside_root"}


def resolve_paths(df: pd.DataFrame, base: Path, allow_outside: bool) -> tuple[pd.DataFrame, list[dict]]:
    """Make paths absolute under `base`; paths escaping it are rejected unless allowed."""
    # lexical check (`..` collapsed, symlinks kept): the manifest's text must stay under the root,
    # while files linked in from elsewhere (e.g. a DVC symlink cache) stay usable
    base = Path(os.path.abspath(base))
    keep, rejected = [], []
    for i, p in enumerate(df["path"]):
        full = Path(os.path.abspath(base / p))
        rejection = outside_root(df["clip_id"].iat[i], p, full, base, allow_outside)
        if rejection:
            rejected.append(rejection)
            continue
        keep.append(i)
        df.iat[i, df.columns.get_loc("path")] = str(full)
    return df.iloc[keep].reset_index(drop=True), rejected


def load_inputs(cfg: PrepareConfig) -> tuple[pd.DataFrame, list[dict]]:
    """The input table (folder scan or manifest) with duplicates and unsafe paths rejected."""
    src = Path(cfg.input)
    if not src.exists():
        raise FileNotFoundError(f"prepare.input: {src} does not exist")
    if src.is_dir():  # a scan resolves links itself: the lexical check below then only makes paths absolute
        (df, rejected), base = scan_folder(src, cfg.allow_outside_root), src
    else:
        df, rejected, base = read_input_manifest(src, cfg.path_template), [], Path(cfg.root or src.parent)
    df, outside = resolve_paths(df, base, cfg.allow_outside_root)
    rejected += outside
    dup = df["clip_id"].duplicated(keep="first")
    for _, r in df[dup].iterrows():
        rejected.append({"clip_id": r["clip_id"], "path": r["path"], "reason": "duplicate_id",
                         "detail": "clip_id already used by an earlier row"})
    return df[~dup].reset_index(drop=True), rejected


def _decode_one(args: tuple[str, int, float, float | None, str, float | None]) -> tuple[Clip | None, str, str]:
    path, rate, min_s, max_s, codec, level = args
    try:
        wave = decode(path, rate)
    except DecodeError as exc:
        return None, exc.reason, exc.detail
    except Exception as exc:  # libsndfile/soxr edge cases on hostile input must not kill the stage
        return None, "unreadable", f"{type(exc).__name__}: {exc}"
    if len(wave) < min_s * rate:
        return None, "too_short", f"{len(wave) / rate:.3f}s < min_seconds={min_s}"
    if max_s is not None:
        wave = wave[: int(round(max_s * rate))]
    if codec == "pcm16":
        return wave, "", ""
    try:
        # encoding here keeps the (slow) encoder in the worker processes; the main process only writes bytes
        return (encode_clip(wave, rate, codec, level), len(wave)), "", ""
    except CodecError as exc:
        return None, "unencodable", str(exc)


def decode_all(paths: list[str], cfg: PrepareConfig) -> Iterator[tuple[Clip | None, str, str]]:
    """Decode (and encode, for compressed codecs) files in worker processes, yielding results in input order."""
    jobs = [(p, cfg.sample_rate, cfg.min_seconds, cfg.max_seconds, cfg.codec, cfg.compression_level) for p in paths]
    workers = min(cfg.workers or os.cpu_count() or 1, len(jobs))
    bar = tqdm(total=len(jobs), desc="prepare", unit="clip", mininterval=1.0)
    if workers == 1 or len(jobs) < 2:
        for job in jobs:
            bar.update()
            yield _decode_one(job)
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            for result in pool.imap(_decode_one, jobs, chunksize=8):
                bar.update()
                yield result
    bar.close()


def prepare_corpus(cfg: PrepareConfig) -> PrepareResult:
    """Decode every input into `<output>/corpus.h5` + `manifest.parquet` + `rejected.csv`, resuming a killed run."""
    table, rejected = load_inputs(cfg)
    out = Path(cfg.output)
    corpus_file, report = out / CORPUS_FILE, out / "rejected.csv"
    # a failed run must not leave an older corpus behind for later stages to take as current
    for stale in (corpus_file, manifest_path(corpus_file), report):
        stale.unlink(missing_ok=True)
    # min_seconds decides rejections, so it belongs to the key as much as the settings that change samples
    progress = Progress.resume(out / PARTS_FOLDER, run_key(table, {**cfg.decode_settings(),
                                                                   "min_seconds": cfg.min_seconds}))
    reused = progress.covered()
    _decode_into_parts(progress, table, cfg)
    kept, part_rejected = _outcome(progress)
    rejected += [{"clip_id": table["clip_id"].iat[row], "path": table["path"].iat[row], "reason": reason,
                  "detail": detail} for row, reason, detail in part_rejected]
    with atomic_path(report) as tmp:
        pd.DataFrame(rejected, columns=["clip_id", "path", "reason", "detail"]).to_csv(tmp, index=False)
    _check_outcome(cfg, sum(len(rows) for rows in kept), rejected, report)
    writer = cfg.writer(corpus_file)
    try:
        for (path, _), rows in zip(progress.in_order(), kept):
            writer.append_file(path, list(table["clip_id"].iloc[rows]))
        manifest = _manifest(table.iloc[np.concatenate(kept)].reset_index(drop=True), writer.lengths,
                             cfg.sample_rate)
        with atomic_path(manifest_path(corpus_file)) as tmp:
            manifest.to_parquet(tmp, index=False)
        info = writer.close()  # last: a published corpus.h5 always has its complete manifest beside it
    except BaseException:
        writer.abort()
        raise
    progress.remove()
    return PrepareResult(info, len(rejected), sum(writer.lengths) / cfg.sample_rate, reused, len(table) - reused)


def _decode_into_parts(progress: Progress, table: pd.DataFrame, cfg: PrepareConfig) -> None:
    """Decode the rows no committed part holds, committing a part every commit_seconds or commit_clips rows."""
    todo = progress.todo(len(table))
    # a part holds consecutive rows, so it is also committed before a row some committed part already holds
    last = {row for row, following in zip(todo, todo[1:] + [-1]) if following != row + 1}
    part = None
    try:
        for row, (clip, reason, detail) in zip(todo, decode_all(list(table["path"].iloc[todo]), cfg)):
            if part is None:
                part = PartWriter(row, cfg.writer(progress.part_path(row)))
            part.add(row, table["clip_id"].iat[row], clip, reason, detail)
            if row in last or part.due(cfg.commit_seconds, cfg.commit_clips):
                progress.commit(part.close())
                part = None
    except BaseException:
        if part is not None:
            part.abort()
        raise


def _outcome(progress: Progress) -> tuple[list[np.ndarray], list[list]]:
    """The kept table rows of each part in order, and all rejections [[row, reason, detail], ...] in row order."""
    kept, rejected = [], []
    for path, part in progress.in_order():
        dropped = rejections(path)
        rejected += dropped
        kept.append(np.setdiff1d(np.arange(part.start, part.stop), [r[0] for r in dropped]))
    return kept, rejected


def _check_outcome(cfg: PrepareConfig, n_kept: int, rejected: list[dict], report: Path) -> None:
    if n_kept == 0:
        raise RuntimeError(f"prepare: no usable clip in {cfg.input} ({len(rejected)} rejected; see {report})")
    if rejected and cfg.fail_on_reject:
        reasons = pd.Series([r["reason"] for r in rejected]).value_counts().to_dict()
        raise RuntimeError(f"prepare: {len(rejected)} input(s) rejected {reasons} and prepare.fail_on_reject "
                           f"is true; see {report}")


def _as_text(values: pd.Series) -> np.ndarray:
    """Cells as strings: label lists (Parquet) joined by commas, missing values as ''."""
    def one(v):
        if isinstance(v, (list, tuple, np.ndarray)):
            return ",".join(str(x) for x in v)
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    return np.array([one(v) for v in values], dtype=object)


def _manifest(table: pd.DataFrame, lengths: list[int], rate: int) -> pd.DataFrame:
    extra = [c for c in table.columns if c not in ("clip_id", "path", "duration")]
    df = pd.DataFrame({"clip_id": table["clip_id"].astype(str), "path": table["path"].astype(str),
                       "duration": np.asarray(lengths, dtype=np.float64) / rate})
    for col in extra:
        df[col] = _as_text(table[col])
    for col in ("labels", "split"):
        if col not in df.columns:
            df[col] = ""
    return df


def summarize_rejections(path: Path) -> str:
    """One line: how many inputs were rejected, by reason."""
    df = pd.read_csv(path)
    if df.empty:
        return "no input rejected"
    counts = ", ".join(f"{k}={v}" for k, v in df["reason"].value_counts().items())
    return f"{len(df)} input(s) rejected ({counts}); see {path}"
