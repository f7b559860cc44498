"""Frame-level embeddings of long audio: the one-pass frames against the sliding 1 s window, side by side.

    python -m benchmarks.frames [--seconds 60] [--long-minutes 10] [--runs 3] [--student PATH]

A trained student (`--student`, default cache/students/demo/student.pt; when there is none, the demo architecture
of params.yaml with fresh weights, and the output says so) at one torch thread. For a `--seconds` clip of noise and tones: seconds of
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

import click
import numpy as np
import torch

from benchmarks.common import ROOT, demo_student, machine
from pipeline import hear

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


def long_run(minutes: float, student: str | None) -> dict:
    """`embed_frames` over a long recording in a child process: wall seconds, frames, peak RSS (MiB)."""
    code = ("import json, resource, time, torch; torch.set_num_threads(1)\n"
            "from benchmarks.common import demo_student; from benchmarks.frames import audio\n"
            f"model, _ = demo_student({student!r}); clip = audio({minutes} * 60, model.sample_rate)[0]\n"
            "start = time.perf_counter(); emb, times = model.embed_frames(clip, model.sample_rate)\n"
            "print(json.dumps({'wall_s': time.perf_counter() - start, 'frames': int(emb.shape[0]),"
            " 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@click.command()
@click.option("--seconds", default=60.0, show_default=True, help="Length of the timed clip.")
@click.option("--long-minutes", default=10.0, show_default=True, help="Length of the long recording.")
@click.option("--runs", default=3, show_default=True, help="Timed runs per way (median).")
@click.option("--student", default=None, help="A trained student.pt (default: cache/students/demo/student.pt).")
def main(seconds: float, long_minutes: float, runs: int, student: str | None) -> None:
    """Print and save (benchmarks/frames.json) the comparison."""
    torch.set_num_threads(1)
    model, which = demo_student(student)
    clip = audio(seconds, model.sample_rate)
    rows = {way: per_second(hear.HearStudent(model, timestamps=way), clip, runs) for way in ("frames", "windows")}
    long = long_run(long_minutes, student)
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
