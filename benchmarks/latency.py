"""CPU latency of the default teacher and of every trained student, eager and as each export format runs it.

    python -m benchmarks.latency [--runs 30] [--warmup 5]

One 10 s clip, batch 1, torch.set_num_threads(1) (onnxruntime: 1 intra-op thread); the median of
`runs` timed calls after `warmup` untimed ones. Each model gets the clip at its own sample rate (the
teacher 44.1 kHz, students their front-end rate), so resampling is not timed. Students are exported
afresh into a temporary folder (with the export checks' cosines reported) in every format: torch.export
(`.pt2`), ONNX (onnxruntime), ExecuTorch (`.pte`, XNNPACK; it takes one training-length window per call,
so the clip goes in as its windows, the last one zero-padded), TorchScript, and int8 both ways (FX dynamic
as TorchScript, PT2E as an ExecuTorch program). When no trained student exists under cache/students/,
the demo architecture of params.yaml with fresh weights stands in, and the output says so.
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

from benchmarks.common import fresh_demo_student
from pipeline.export import ExportConfig, export_student, runner_for
from pipeline.inference.checkpoint import save_student
from pipeline.inference.model import StudentModel, load_student
from pipeline.inference.quantize import corpus_calibration
from pipeline.students.head import ProjectionHead
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
    """The demo architecture with fresh weights, saved as a checkpoint like a trained student."""
    model = fresh_demo_student()
    head = ProjectionHead(model.embedding_dim, model.config.out_dim)
    return save_student(folder / "demo-fresh" / "student.pt", model.encoder.backbone, head,
                        dataclasses.asdict(model.config))


def as_windows(audio: np.ndarray, window: int) -> np.ndarray:
    """(1, samples) -> (n, window): consecutive windows, the last one zero-padded."""
    n = -(-audio.shape[1] // window)
    return np.pad(audio[0], (0, n * window - audio.shape[1])).reshape(n, window)


def student_rows(name: str, model: StudentModel, folder: Path, runs: int, warmup: int) -> list[Row]:
    """Eager latency of one student, then that of each export (one export per int8 method)."""
    calibration = corpus_calibration("cache/corpus/corpus.h5", 64, model.sample_rate, model.window_samples)
    manifest = {}
    for formats, method in ((("pt2", "onnx", "pte", "torchscript"), "dynamic"), ((), "pt2e")):
        cfg = ExportConfig(student=name, check_batch=2, formats=formats, int8_method=method)
        manifest.update(export_student(model, folder, cfg, calibration)["files"])
    audio = clip(model.sample_rate)
    windows = as_windows(audio, model.window_samples)
    encoder = model.encoder.eval()
    with torch.no_grad():
        rows = [Row(name, "eager", model.params, state_bytes(encoder),
                    median_ms(lambda: encoder(torch.from_numpy(audio)), runs, warmup))]
    for file, entry in manifest.items():
        run, x = runner_for(folder / file), windows if file.endswith(".pte") else audio
        variant = entry["format"] + (f" ({len(windows)} windows)" if file.endswith(".pte") else "")
        rows.append(Row(name, variant, model.params, entry["bytes"], median_ms(lambda: run(x), runs, warmup),
                        entry["min_cosine"]))
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
