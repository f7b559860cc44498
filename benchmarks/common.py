"""Shared pieces of `python -m benchmarks`: the figure table, machine facts and a small working corpus."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline.audio.logmel import LogMel, LogMelConfig
from pipeline.config import parse
from pipeline.corpus import Corpus, CorpusWriter, manifest_path
from pipeline.inference.checkpoint import CheckpointConfig
from pipeline.inference.model import StudentModel, load_student
from pipeline.students.registry import build_student

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Figure:
    """One line of the summary: a measured value against its target (`op` is one of >=, <=, >, or '' for none)."""

    name: str
    value: float | None
    op: str = ""
    target: float | None = None
    unit: str = ""
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the value meets the target (None when there is no target or no value)."""
        if self.value is None or not self.op:
            return None
        return {">=": self.value >= self.target, "<=": self.value <= self.target, ">": self.value > self.target}[self.op]

    def row(self) -> tuple[str, str, str, str]:
        """(figure, measured, target, met) as printed."""
        value = "not measured" if self.value is None else f"{self.value:.3g}{self.unit}"
        target = f"{self.op} {self.target:g}{self.unit}" if self.op else "-"
        met = {True: "met", False: "NOT met", None: "-"}[self.met]
        return self.name, value, target, met

    def as_json(self) -> dict:
        """The figure with its verdict, for results.json."""
        return dict(asdict(self), met=self.met)


def step_args(description: str) -> argparse.Namespace:
    """`--steps`, `--threads` and `--batch` of the training-step benchmarks, torch's threads set from them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def print_measures(rows: list[tuple[str, str, str]], value_width: int = 12) -> None:
    """Print (measure, value, target) rows as an aligned table under a header."""
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'value':>{value_width}}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>{value_width}}  {target}")


def table(figures: list[Figure]) -> str:
    """The figures as one aligned text table, notes below it."""
    rows = [("figure", "measured", "target", "met")] + [f.row() for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    notes = [f"  {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["notes:"] + notes if notes else []))


def git_commit() -> str:
    """The checked-out commit (with `+dirty` when tracked files are modified), or 'unknown'."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


DEMO_STUDENT = ROOT / "cache" / "students" / "demo" / "student.pt"


def fresh_demo_student(params_file: Path = ROOT / "params.yaml", seed: int = 0) -> StudentModel:
    """The demo student's architecture, front-end and window as params.yaml sets them, with fresh weights whose
    batch-norm statistics come from noise (init-time statistics give ~1e-6 outputs no int8 grid represents)."""
    from stages.params import audio_config, read_params, section

    params = read_params(params_file)
    audio, train = audio_config(params), section(params, "train")
    frontend = parse(LogMelConfig, dict(params.get("frontend") or {}, sample_rate=audio.sample_rate), "frontend")
    options = dict(train["student_options"])
    torch.manual_seed(seed)
    student = build_student(train["student"], options).train()
    window = int(round(audio.window_seconds * audio.sample_rate))
    with torch.no_grad():
        student(LogMel(frontend)(0.1 * torch.randn(8, window)))
    config = CheckpointConfig(student=train["student"], frontend=frontend, window_samples=window,
                              embed_dim=student.embed_dim, out_dim=512, student_options=options)
    model = StudentModel(config)
    model.encoder.backbone.load_state_dict(student.state_dict())
    return model.eval()


def demo_student(path: str | Path | None = None) -> tuple[StudentModel, str]:
    """The trained student at `path` (default: this checkout's demo student), or the demo architecture with fresh
    weights when there is none; plus which, for the output."""
    path = Path(path) if path else DEMO_STUDENT
    if path.exists():
        return load_student(path), f"trained ({path})"
    return fresh_demo_student(), "FRESH weights (demo architecture from params.yaml; no trained student)"


def machine() -> dict:
    """Where the figures were measured: CPU model and count, load, torch version, git commit."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"nproc": os.cpu_count(), "cpu": model, "load_average_1min": round(os.getloadavg()[0], 2),
            "torch": torch.__version__, "gpu": gpu, "python": platform.python_version(), "commit": git_commit()}


def save_results(path: Path, figures: list[Figure], extra: dict) -> None:
    """Write results.json: date, machine, every figure with its verdict, and run details."""
    body = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(), "figures": [f.as_json() for f in figures], **extra}
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")


def work_corpus(folder: Path, clips: int, source: Path = ROOT / "cache" / "corpus" / "corpus.h5",
                rate: int = 32000, seed: int = 0) -> tuple[Corpus, str]:
    """`clips` clips spread over the demo corpus when it exists, else synthetic tones and noise; plus where from."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = CorpusWriter(folder / "corpus.h5", rate)
    if source.exists():
        demo = Corpus(source)
        rows = np.linspace(0, len(demo) - 1, min(clips, len(demo))).round().astype(int)
        manifest = demo.manifest().iloc[rows].reset_index(drop=True)
        for row, clip_id in zip(rows, manifest["clip_id"]):
            writer.append(str(clip_id), demo.clip(int(row)))
        origin = f"{len(rows)} clips spread over {source.relative_to(ROOT) if source.is_relative_to(ROOT) else source}"
    else:
        rng = np.random.default_rng(seed)
        ids, seconds = [f"synth{i:04d}" for i in range(clips)], rng.uniform(2.0, 4.0, clips)
        for clip_id, secs in zip(ids, seconds):
            t = np.arange(int(secs * rate)) / rate
            wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) + 0.05 * rng.standard_normal(len(t))
            writer.append(clip_id, wave.astype(np.float32))
        manifest = pd.DataFrame({"clip_id": ids, "path": ids, "duration": seconds, "labels": "", "split": ""})
        origin = f"{clips} synthetic clips (no demo corpus at {source})"
    writer.close()
    manifest.to_parquet(manifest_path(folder / "corpus.h5"), index=False)
    return Corpus(folder / "corpus.h5"), origin


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its reaped children (pool and DataLoader workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Clock:
    """Wall and CPU seconds (this process plus reaped children) of a block."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, cpu_seconds() - self.cpu
