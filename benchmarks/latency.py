"""CPU latency of the default teacher and of every trained student (eager, TorchScript, ONNX, int8).

    python -m benchmarks.latency [--runs 30] [--warmup 5]

One 10 s clip, batch 1, torch.set_num_threads(1) (onnxruntime: 1 intra-op thread); the median of
`runs` timed calls after `warmup` untimed ones. Each model gets the clip at its own sample rate (the
teacher 44.1 kHz, students their front-end rate), so resampling is not timed. Students are exported
afresh into a temporary folder (with the export checks' cosines reported); when no trained student
exists under cache/students/, the demo architecture with fresh weights stands in, and the output says so.
Sizes: bytes of the fp32 state dict (torch.save) for eager models, file sizes for exports.
"""
from __future__ import annotations

import dataclasses
import glob
import io
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click
import numpy as np
import torch
from torch import nn

from pipeline.audio.logmel import LogMel, LogMelConfig
from pipeline.export import (INT8_FILE, ExportConfig, export_student, exported_runner, onnx_runner,
                             torchscript_runner)
from pipeline.inference.checkpoint import save_student
from pipeline.inference.model import StudentModel, load_student
from pipeline.inference.quantize import corpus_calibration
from pipeline.students.head import ProjectionHead
from pipeline.students.registry import build_student
from pipeline.teachers.registry import build_teacher

CLIP_SECONDS = 10.0


@dataclass
class Row:
    """One line of the table."""

    model: str
    variant: str
    params: int
    size_bytes: int
    latency_ms: float
    cosine: float | None = None


def median_ms(fn: Callable[[], object], runs: int, warmup: int) -> float:
    """Median wall time of `fn()` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def state_bytes(module: nn.Module) -> int:
    """Size of the module's state dict as torch.save writes it."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def clip(rate: int, seed: int = 0) -> np.ndarray:
    """(1, 10 s) float32 noise at `rate`."""
    return (0.1 * np.random.default_rng(seed).standard_normal((1, int(CLIP_SECONDS * rate)))).astype(np.float32)


def teacher_row(runs: int, warmup: int) -> Row:
    """The default teacher (aisfx) on one 10 s clip at 44.1 kHz."""
    teacher = build_teacher("aisfx", {})
    audio = torch.from_numpy(clip(teacher.sample_rate))
    params = sum(p.numel() for p in teacher.parameters())
    return Row("aisfx (teacher)", "eager", params, state_bytes(teacher), median_ms(lambda: teacher.embed(audio),
                                                                                    runs, warmup))


def demo_student(folder: Path) -> Path:
    """The demo architecture (MobileNetV3 width 0.2, 32 kHz, 4 s window): fresh weights, batch-norm stats of noise."""
    torch.manual_seed(0)
    student = build_student("mobilenetv3", {"width": 0.2}).train()
    frontend = LogMelConfig()
    with torch.no_grad():  # init-time statistics give ~1e-6 outputs, which no int8 grid represents
        student(LogMel(frontend)(0.1 * torch.randn(8, 4 * frontend.sample_rate)))
    student.eval()
    config = {"student": "mobilenetv3", "student_options": {"width": 0.2}, "head_hidden": [512],
              "frontend": dataclasses.asdict(frontend), "window_samples": 4 * frontend.sample_rate, "out_dim": 512,
              "embed_dim": student.embed_dim}
    return save_student(folder / "demo-fresh" / "student.pt", student, ProjectionHead(student.embed_dim, 512), config)


def student_rows(name: str, model: StudentModel, folder: Path, runs: int, warmup: int) -> list[Row]:
    """Eager, torch.export, TorchScript, ONNX and int8 latency of one student."""
    calibration = corpus_calibration("cache/corpus/corpus.h5", 64, model.sample_rate, model.window_samples)
    cfg = ExportConfig(student=name, check_batch=2, formats=("pt2", "torchscript", "onnx"))
    manifest = export_student(model, folder, cfg, calibration)
    audio = clip(model.sample_rate)
    encoder = model.encoder.eval()
    with torch.no_grad():
        rows = [Row(name, "eager", model.params, state_bytes(encoder),
                    median_ms(lambda: encoder(torch.from_numpy(audio)), runs, warmup))]
        for file, runner in (("student.pt2", exported_runner), ("student.ts", torchscript_runner),
                             ("student.onnx", onnx_runner), (INT8_FILE, torchscript_runner)):
            run, entry = runner(folder / file), manifest["files"][file]
            rows.append(Row(name, manifest["files"][file]["format"], model.params, entry["bytes"],
                            median_ms(lambda: run(audio), runs, warmup), entry["min_cosine"]))
    return rows


def table(rows: list[Row], teacher_ms: float) -> str:
    """Markdown table; the ratio is teacher latency / this row's latency."""
    lines = ["| model | variant | params | size (KiB) | latency (ms) | teacher / this | cosine to eager |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        cosine = "" if r.cosine is None else f"{r.cosine:.5f}"
        lines.append(f"| {r.model} | {r.variant} | {r.params:,} | {r.size_bytes / 1024:,.0f} | "
                     f"{r.latency_ms:.1f} | {teacher_ms / r.latency_ms:.1f}x | {cosine} |")
    return "\n".join(lines)


def run(runs: int, warmup: int, pattern: str = "cache/students/*/student.pt") -> dict:
    """Teacher and student rows at one thread; `fresh` says the demo architecture stood in for trained students."""
    torch.set_num_threads(1)
    teacher = teacher_row(runs, warmup)
    rows = [teacher]
    with tempfile.TemporaryDirectory() as tmp:
        found = sorted(map(Path, glob.glob(pattern)))
        for path in found or [demo_student(Path(tmp))]:
            name = path.parent.name
            rows += student_rows(name, load_student(path), Path(tmp) / "export" / name, runs, warmup)
    best = min(rows[1:], key=lambda r: r.latency_ms)
    return {"rows": rows, "teacher": teacher, "best": best, "fresh": not found,
            "speedup": teacher.latency_ms / best.latency_ms}


@click.command()
@click.option("--runs", type=int, default=30, show_default=True, help="Timed calls per model (median reported).")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed calls first.")
@click.option("--students", "pattern", default="cache/students/*/student.pt", show_default=True,
              help="Glob of trained student checkpoints.")
def main(runs: int, warmup: int, pattern: str) -> None:
    """Print the latency table (markdown)."""
    out = run(runs, warmup, pattern)
    note = "no trained student under cache/students/: demo architecture, FRESH weights\n" if out["fresh"] else ""
    click.echo(f"CPU latency, one {CLIP_SECONDS:.0f} s clip, batch 1, 1 thread, median of {runs} runs "
               f"(torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    click.echo(note + table(out["rows"], out["teacher"].latency_ms))
    click.echo(f"\nfastest student variant: {out['speedup']:.1f}x faster than the teacher (target >= 10x)")


if __name__ == "__main__":
    main()
