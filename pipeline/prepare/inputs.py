"""The inputs of `prepare`: a scanned folder (links kept inside their root) or a manifest / AudioSet CSV."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from pipeline.prepare.config import PrepareConfig

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".au", ".w64", ".caf")


# AudioSet segment CSVs: "# YTID, start_seconds, end_seconds, positive_labels"
AUDIOSET_COLUMNS = ("ytid", "start_seconds", "end_seconds", "positive_labels")


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
