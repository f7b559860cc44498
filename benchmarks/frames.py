"""Frame-level embeddings of long audio: the one-pass frames against the sliding 1 s window, side by side.

    python -m benchmarks.frames [--seconds 60] [--long-minutes 10] [--runs 3]

A student of the demo architecture (the trained demo student when cache/students/demo exists, else fresh
weights, and the output says so) at one torch thread. For a `--seconds` clip of noise and tones: seconds of
compute per second of audio for HEAR timestamp embeddings (hop 50 ms) computed `frames` (the default) and
`windows` (a 1 s window centred on every timestamp), median of `--runs`; their ratio. Then, in a child
process, `StudentModel.embed_frames` over a `--long-minutes` recording: wall time and peak RSS of that process.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import click
import numpy as np
import torch

from benchmarks.common import ROOT, machine
from pipeline import hear
from pipeline.audio.logmel import LogMelConfig
from pipeline.inference.checkpoint import CheckpointConfig
from pipeline.inference.model import StudentModel, load_student
from pipeline.students.registry import build_student

DEMO = ROOT / "cache" / "students" / "demo" / "student.pt"


def demo_student() -> tuple[StudentModel, str]:
    """The trained demo student, or its architecture with fresh weights; plus which."""
    if DEMO.exists():
        return load_student(DEMO), f"trained ({DEMO.relative_to(ROOT)})"
    options = {"width": 0.35}
    dim = build_student("mobilenetv3", options).embed_dim
    config = CheckpointConfig(student="mobilenetv3", frontend=LogMelConfig(), window_samples=64000, embed_dim=dim,
                              out_dim=512, student_options=options)
    return StudentModel(config).eval(), "FRESH weights (no trained demo student)"


def audio(seconds: float, rate: int, seed: int = 0) -> torch.Tensor:
    """(1, samples): noise with a tone in every other second."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * ((t.astype(int) % 2) == 0)
    return torch.from_numpy((0.05 * rng.standard_normal(n) + tone).astype(np.float32))[None]


def per_second(model: hear.HearStudent, clip: torch.Tensor, runs: int) -> float:
    """Median seconds of compute per second of audio for the HEAR timestamp embeddings of `clip`."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        hear.get_timestamp_embeddings(clip, model)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / (clip.shape[1] / model.sample_rate)


def long_run(minutes: float) -> dict:
    """`embed_frames` over a long recording in a child process: wall seconds, frames, peak RSS (MiB)."""
    code = ("import json, resource, time, torch; torch.set_num_threads(1)\n"
            "from benchmarks.frames import audio, demo_student\n"
            f"model, _ = demo_student(); clip = audio({minutes} * 60, model.sample_rate)[0]\n"
            "start = time.perf_counter(); emb, times = model.embed_frames(clip, model.sample_rate)\n"
            "print(json.dumps({'wall_s': time.perf_counter() - start, 'frames': int(emb.shape[0]),"
            " 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@click.command()
@click.option("--seconds", default=60.0, show_default=True, help="Length of the timed clip.")
@click.option("--long-minutes", default=10.0, show_default=True, help="Length of the long recording.")
@click.option("--runs", default=3, show_default=True, help="Timed runs per way (median).")
def main(seconds: float, long_minutes: float, runs: int) -> None:
    """Print and save (benchmarks/frames.json) the comparison."""
    torch.set_num_threads(1)
    student, which = demo_student()
    clip = audio(seconds, student.sample_rate)
    rows = {way: per_second(hear.HearStudent(student, timestamps=way), clip, runs) for way in ("frames", "windows")}
    long = long_run(long_minutes)
    result = {"machine": machine(), "student": which, "clip_seconds": seconds,
              "seconds_per_audio_second": rows, "speedup": rows["windows"] / rows["frames"],
              "long_minutes": long_minutes, "long": long}
    (ROOT / "benchmarks" / "frames.json").write_text(json.dumps(result, indent=2) + "\n")
    click.echo(f"student: {which}; {seconds:.0f} s clip, 1 thread, median of {runs}")
    for way, value in rows.items():
        click.echo(f"  HEAR timestamps ({way}): {value:.4f} s per s of audio")
    click.echo(f"  frames are {result['speedup']:.1f}x faster than the sliding window")
    click.echo(f"  embed_frames of {long_minutes:.0f} min: {long['wall_s']:.1f} s, {long['frames']} frames, "
               f"peak RSS {long['peak_rss_mb']:.0f} MiB")


if __name__ == "__main__":
    main()
