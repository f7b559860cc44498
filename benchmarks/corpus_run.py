"""A generated corpus of compressed 10 s clips through the real stages: prepare -> embed -> cluster -> train.

    python -m benchmarks.corpus_run [--clips 20000] [--work cache/corpus-run] [--codec mp3] [--teacher aisfx]

Writes `--clips` synthetic 10 s clips (`benchmarks.scale.synth_clip`, 44.1 kHz) as `--codec` files plus a
manifest, derives a params file from the project's params.yaml (10 s windows, the corpus stored in `--codec`,
`--k` clusters, a MobileNetV3 student trained for `--epochs` x `--epoch-size` draws), then runs each stage's own
command (`python -m stages.<stage> --params ...`, the code `dvc repro` runs) in the work folder. It records wall
and CPU time per step and the stage reports, prints a markdown table and saves it as `<work>/report.md` (+ json).
Finished steps are skipped on a rerun (their outputs are there), so an interrupted run continues.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import yaml

from benchmarks.common import ROOT
from benchmarks.scale import synth_clip

SOURCE_RATE = 44100
FORMATS = {"mp3": ("MP3", "MPEG_LAYER_III", ".mp3"), "flac": ("FLAC", "PCM_16", ".flac"),
           "wav": ("WAV", "PCM_16", ".wav"), "opus": ("OGG", "OPUS", ".opus")}


def recipe(seed: int) -> str:
    """The clip's ingredients as labels (the counts `synth_clip` draws first from the same seed)."""
    rng = np.random.default_rng(seed)
    tones, bursts, chirps = rng.integers(1, 5), rng.integers(0, 4), rng.integers(0, 3)
    return f"tones{tones};bursts{bursts};chirps{chirps}"


def _write_one(job: tuple[int, str, str]) -> tuple[int, float]:
    """Worker: synthesise clip `seed` and write it to `path`; returns (seed, CPU seconds)."""
    seed, path, codec = job
    t0 = time.process_time()
    fmt, subtype, _ = FORMATS[codec]
    tmp = f"{path}.partial"  # renamed when whole: a killed run never leaves a truncated file behind
    sf.write(tmp, synth_clip(seed, SOURCE_RATE), SOURCE_RATE, format=fmt, subtype=subtype)
    os.replace(tmp, path)
    return seed, time.process_time() - t0


def generate(folder: Path, clips: int, codec: str, workers: int, valid_fraction: float = 0.05) -> dict:
    """Write the clips (skipping files already there) and `manifest.csv`; returns timing."""
    audio = folder / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    ext = FORMATS[codec][2]
    paths = [audio / f"{i // 1000:03d}" / f"clip{i:06d}{ext}" for i in range(clips)]
    for p in {p.parent for p in paths}:
        p.mkdir(exist_ok=True)
    todo = [(i, str(p), codec) for i, p in enumerate(paths) if not p.exists()]
    t0, cpu = time.perf_counter(), 0.0
    with mp.get_context("spawn").Pool(workers) as pool:
        for done, (_, c) in enumerate(pool.imap_unordered(_write_one, todo, chunksize=8), 1):
            cpu += c
            if done % 1000 == 0:
                print(f"generate: {done}/{len(todo)}", flush=True)
    rng = np.random.default_rng(0)
    split = np.where(rng.random(clips) < valid_fraction, "valid", "train")
    pd.DataFrame({"path": [str(p.relative_to(folder)) for p in paths], "clip_id": [p.stem for p in paths],
                  "labels": [recipe(i) for i in range(clips)], "split": split}).to_csv(folder / "manifest.csv",
                                                                                      index=False)
    return {"wall_s": time.perf_counter() - t0, "cpu_s": cpu, "clips": len(todo),
            "bytes": sum(p.stat().st_size for p in paths)}


def run_params(args: argparse.Namespace) -> dict:
    """The project's params.yaml with this run's sizes and paths (all relative to the work folder)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["base"]["num_threads"] = args.threads
    params["audio"].update(window_seconds=10.0, hop_seconds=10.0)
    params["prepare"].update(input="source/manifest.csv", codec=args.codec_store, workers=0)
    params["embed"].update(teachers=[args.teacher], workers=1)
    params["cluster"].update(teacher=args.teacher, joint_teachers=[], k=args.k, sweep=[])
    params["train"].update(name="student", teachers=[args.teacher], epochs=args.epochs, epoch_size=args.epoch_size,
                           batch_size=args.batch_size, val_max_rows=512, workers=1,
                           cache_logmels=False)  # 20,000 log-mels of 10 s would exceed the demo's RAM budget
    return params


def run_stage(name: str, argv: list[str], work: Path, log: Path) -> dict:
    """Run `python -m stages.<name> ...` in `work`; wall and children's CPU seconds, output to `log`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run([sys.executable, "-m", f"stages.{name}", *argv], cwd=work, stdout=out,
                              stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"{name} failed (exit {proc.returncode}); see {log}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"{name}: {wall:.0f} s wall, {cpu:.0f} s CPU", flush=True)
    return {"wall_s": wall, "cpu_s": cpu}


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def summary(work: Path, steps: dict, args: argparse.Namespace) -> str:
    """Markdown: one row per step, then the figures each stage reported."""
    rows = ["| step | wall | CPU | notes |", "|---|---|---|---|"]
    corpus = work / "corpus" / "corpus.h5"
    notes = {
        "generate": f"{args.clips:,} x 10 s {args.codec} files at {SOURCE_RATE} Hz, "
                    f"{steps.get('generate', {}).get('bytes', 0) / 1e9:.2f} GB",
        "prepare": f"corpus.h5 in {args.codec_store}: {corpus.stat().st_size / 1e9:.2f} GB" if corpus.exists() else "",
        "embed": f"teacher {args.teacher}",
        "cluster": f"k={args.k}",
        "train": f"{args.epochs} x {args.epoch_size} draws",
    }
    for name, step in steps.items():
        rows.append(f"| {name} | {step['wall_s'] / 60:.1f} min | {step['cpu_s'] / 60:.1f} min | {notes.get(name, '')} |")
    total = sum(s["wall_s"] for s in steps.values())
    rows.append(f"| **total** | **{total / 60:.1f} min** | | |")
    reports = {"embed": _json(work / "cache" / "embeddings" / args.teacher / "report.json"),
               "cluster": _json(work / "cache" / "clusters" / f"{args.teacher}-k{args.k}" / "metrics.json"),
               "train": _json(work / "cache" / "students" / "student" / "metrics.json")}
    rejected = work / "corpus" / "rejected.csv"
    n_rejected = max(0, len(rejected.read_text().splitlines()) - 1) if rejected.exists() else 0
    lines = rows + ["", f"Rejected by prepare: {n_rejected}."]
    for name, rep in reports.items():
        lines.append(f"\n`{name}` report:\n```json\n{json.dumps(rep, indent=1, sort_keys=True)[:3000]}\n```")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=20000)
    ap.add_argument("--work", type=Path, default=ROOT / "cache" / "corpus-run")
    ap.add_argument("--codec", default="mp3", choices=sorted(FORMATS), help="source file format")
    ap.add_argument("--codec-store", default="mp3", help="prepare.codec of the HDF5 corpus")
    ap.add_argument("--teacher", default="aisfx")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--epoch-size", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    state_file = work / "steps.json"
    steps = _json(state_file)
    (work / "params.yaml").write_text(yaml.safe_dump(run_params(args), sort_keys=False))
    index = f"cache/clusters/{args.teacher}-k{args.k}"
    data = ["--corpus", "corpus", "--embeddings", "cache/embeddings"]  # the folders, as dvc.yaml would pass them
    plan = [("prepare", ["--params", "params.yaml", "--output", "corpus"], work / "corpus" / "corpus.h5"),
            ("embed", ["--params", "params.yaml", "--teacher", args.teacher, "--corpus", "corpus", "--stores",
                       "cache/embeddings", "--out", f"cache/embeddings/{args.teacher}"],
             work / "cache" / "embeddings" / args.teacher / "report.json"),
            ("cluster", ["--params", "params.yaml", *data, "--out", index], work / index),
            ("train", ["--params", "params.yaml", *data, "--index", index, "--out", "cache/students/student"],
             work / "cache" / "students" / "student" / "metrics.json")]
    if "generate" not in steps:
        steps["generate"] = generate(work / "source", args.clips, args.codec, args.workers)
        state_file.write_text(json.dumps(steps, indent=1))
        print(f"generate: {steps['generate']['wall_s']:.0f} s wall", flush=True)
    for name, stage_argv, output in plan:
        if name in steps and output.exists():
            continue
        steps[name] = run_stage(name, stage_argv, work, work / f"{name}.log")
        state_file.write_text(json.dumps(steps, indent=1))
    report = summary(work, steps, args)
    (work / "report.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
