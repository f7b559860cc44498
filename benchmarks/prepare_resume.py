"""`prepare` killed part-way and rerun, against an uninterrupted run: wall times, inputs reused, same corpus.

    python -m benchmarks.prepare_resume --source cache/corpus-run/source/audio [--clips 6000] [--kill-at 0.5]
        [--work cache/prepare-resume] [--codec mp3] [--commit-seconds 60]

Fills `<work>/input` with `--clips` hard links that cycle over the audio files below `--source` (e.g. the clips
`python -m benchmarks.corpus_run` generates: decoding costs the same per link, generating costs far more per
file), then runs the stage's own command (`python -m stages.prepare`, what `dvc repro` runs) three times: whole
into `<work>/whole`, then into `<work>/killed` killed (SIGKILL, workers included) once its progress bar counts
`--kill-at` of the inputs decoded, then again there. Prints a markdown table and checks both corpora hold the same
arrays, attributes, manifest and rejection report.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import yaml

from benchmarks.common import ROOT
from pipeline.prepare import AUDIO_EXTENSIONS, PARTS_FOLDER
from pipeline.prepare.parts import PROGRESS_FILE


def link_inputs(source: Path, folder: Path, clips: int) -> None:
    """`clips` hard links in `folder` (1000 per sub-folder) cycling over the audio files below `source`."""
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        sys.exit(f"--source {source}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) below it")
    for i in range(clips):
        link = folder / f"{i // 1000:03d}" / f"clip{i:06d}{files[i % len(files)].suffix}"
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(files[i % len(files)], link)


def run(work: Path, out: str, name: str, kill_at: int | None = None) -> float:
    """Wall seconds of `python -m stages.prepare` into `<work>/<out>` (log `<work>/<name>.log`), SIGKILLed once
    `kill_at` inputs are decoded."""
    cmd = [sys.executable, "-m", "stages.prepare", "--params", "params.yaml", "--output", out]
    log = work / f"{name}.log"
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=work, stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        while kill_at is not None and proc.poll() is None and decoded(log) < kill_at:
            time.sleep(0.1)
        if proc.poll() is None and kill_at is not None:
            os.killpg(proc.pid, signal.SIGKILL)  # the stage and its decode workers, as a kill of `dvc repro` would
        proc.wait()
    if proc.returncode not in (0, -signal.SIGKILL):
        sys.exit(f"prepare failed (exit {proc.returncode}); see {log}")
    return time.perf_counter() - t0


def decoded(log: Path) -> int:
    """How many inputs the stage's progress bar in `log` counts so far ("prepare:  50%|...| 1200/2400 [...")."""
    counts = re.findall(r"\| (\d+)/\d+ \[", log.read_text(errors="replace"))
    return int(counts[-1]) if counts else 0


def same_corpus(a: Path, b: Path) -> bool:
    """Whether corpus folders `a` and `b` hold equal arrays, attributes, manifests and rejection reports."""
    with h5py.File(a / "corpus.h5", "r") as fa, h5py.File(b / "corpus.h5", "r") as fb:
        arrays = sorted(fa) == sorted(fb) and all(np.array_equal(fa[k][:], fb[k][:]) for k in fa)
        attrs = dict(fa.attrs) == dict(fb.attrs)
    return arrays and attrs and (a / "rejected.csv").read_bytes() == (b / "rejected.csv").read_bytes() and \
        pd.read_parquet(a / "manifest.parquet").equals(pd.read_parquet(b / "manifest.parquet"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="folder of audio files to link")
    ap.add_argument("--clips", type=int, default=6000)
    ap.add_argument("--kill-at", type=float, default=0.5, help="fraction of the inputs decoded at the kill")
    ap.add_argument("--work", type=Path, default=ROOT / "cache" / "prepare-resume")
    ap.add_argument("--codec", default="mp3", help="prepare.codec of the corpus")
    ap.add_argument("--commit-seconds", type=float, default=60.0)
    args = ap.parse_args(argv)
    work = args.work.resolve()
    link_inputs(args.source.resolve(), work / "input", args.clips)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["prepare"].update(input="input", codec=args.codec, workers=0, commit_seconds=args.commit_seconds)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    whole = run(work, "whole", "whole")
    killed = run(work, "killed", "killed", round(args.kill_at * args.clips))
    progress = json.loads((work / "killed" / PARTS_FOLDER / PROGRESS_FILE).read_text())["parts"]
    rerun = run(work, "killed", "rerun")
    reused = json.loads((work / "killed" / "metrics.json").read_text())["reused"]
    print(f"| clips | whole run | killed after | committed then | rerun | rerun / whole | same corpus |\n"
          f"|---|---|---|---|---|---|---|\n"
          f"| {args.clips:,} | {whole:.0f} s | {killed:.0f} s ({args.kill_at:.0%} decoded) | {len(progress)} parts, "
          f"{reused:,} inputs reused | {rerun:.0f} s | {rerun / whole:.2f} | "
          f"{'yes' if same_corpus(work / 'whole', work / 'killed') else 'NO'} |")


if __name__ == "__main__":
    main()
