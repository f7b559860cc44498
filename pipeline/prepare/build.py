"""`prepare_corpus`: inputs -> committed parts -> one published corpus.h5, manifest and rejection report."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.atomic import atomic_path
from pipeline.corpus import CORPUS_FILE, CorpusInfo, manifest_path
from pipeline.prepare.config import PARTS_FOLDER, PrepareConfig
from pipeline.prepare.decoding import decode_all
from pipeline.prepare.inputs import load_inputs
from pipeline.prepare.parts import PartWriter, Progress, rejections, run_key


@dataclass(frozen=True)
class PrepareResult:
    """What `prepare_corpus` produced."""

    corpus: CorpusInfo
    n_rejected: int
    seconds: float
    reused: int   # inputs whose outcome an interrupted run had committed
    decoded: int  # inputs decoded by this run


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
