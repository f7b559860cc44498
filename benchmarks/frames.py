"""Frame-level embeddings of long audio: the one-pass frames against the sliding 1 s window, side by side.

    python -m benchmarks.frames [--seconds 60] [--long-minutes 10] [--runs 3] [--student PATH]

A trained student (`--student`, default cache/students/demo/student.pt; when there is none, the demo architecture
of params.yaml with fresh weights, and the output says so) at one torch thread. For a `--seconds` clip of noise and tones: seconds of
compute per second of audio for HEAR timestamp embeddings (hop 50 ms) computed `frames` (the default) and
`windows` (a 1 s window centred on every timestamp), median of `--runs`, each way at every batch size of
`--batches` (windows per forward pass); the ratio of the two ways at their defaults and at their fastest batch.
The ways alternate run by run, so load on a shared machine falls on both. Then, in a child process,
`StudentModel.embed_frames` over a `--long-minutes` recording: wall time and peak RSS of that process.
"""
from __future__ import annotations

import inspect
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
from pipeline.inference.frames import FRAME_BATCH

DEFAULT_BATCH = inspect.signature(hear.HearStudent).parameters["batch_size"].default

def audio(seconds: float, rate: int, seed: int = 0) -> torch.Tensor:
    """(1, samples): noise with a tone in every other second."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * ((t.astype(int) % 2) == 0)
    return torch.from_numpy((0.05 * rng.standard_normal(n) + tone).astype(np.float32))[None]


def timed(model: hear.HearStudent, clip: torch.Tensor) -> float:
    """Seconds of compute per second of audio for one call of the HEAR timestamp embeddings of `clip`."""
    start = time.perf_counter()
    hear.get_timestamp_embeddings(clip, model)
    return (time.perf_counter() - start) / (clip.shape[1] / model.sample_rate)


def sweep(student, clip: torch.Tensor, batches: list[int], runs: int) -> dict[str, dict[int, float]]:
    """{way: {batch: median seconds per second of audio}}, the ways and batches interleaved within each run."""
    models = {(way, b): hear.HearStudent(student, timestamps=way, batch_size=b, frame_batch=b)
              for way in ("frames", "windows") for b in batches}
    times: dict[tuple[str, int], list[float]] = {key: [] for key in models}
    for _ in range(runs):
        for key, model in models.items():
            times[key].append(timed(model, clip))
    out: dict[str, dict[int, float]] = {"frames": {}, "windows": {}}
    for (way, b), values in times.items():
        out[way][b] = statistics.median(values)
    return out


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
@click.option("--runs", default=3, show_default=True, help="Timed runs per way and batch (median).")
@click.option("--batches", default="4,8,16,32,64", show_default=True, help="Batch sizes tried for each way.")
@click.option("--student", default=None, help="A trained student.pt (default: cache/students/demo/student.pt).")
def main(seconds: float, long_minutes: float, runs: int, batches: str, student: str | None) -> None:
    """Print and save (benchmarks/frames.json) the comparison."""
    torch.set_num_threads(1)
    model, which = demo_student(student)
    clip = audio(seconds, model.sample_rate)
    sizes = sorted({int(b) for b in batches.split(",")} | {FRAME_BATCH, DEFAULT_BATCH})
    rows = sweep(model, clip, sizes, runs)
    best = {way: min(values.values()) for way, values in rows.items()}
    default = {"frames": rows["frames"][FRAME_BATCH], "windows": rows["windows"][DEFAULT_BATCH]}
    long = long_run(long_minutes, student)
    result = {"machine": machine(), "student": which, "clip_seconds": seconds, "runs": runs,
              "seconds_per_audio_second": {way: {str(b): v for b, v in values.items()} for way, values in rows.items()},
              "defaults": {"frames": FRAME_BATCH, "windows": DEFAULT_BATCH},
              "speedup": default["windows"] / default["frames"], "speedup_fastest": best["windows"] / best["frames"],
              "long_minutes": long_minutes, "long": long}
    (ROOT / "benchmarks" / "frames.json").write_text(json.dumps(result, indent=2) + "\n")
    click.echo(f"student: {which}; {seconds:.0f} s clip, 1 thread, median of {runs}")
    for way, values in rows.items():
        cells = ", ".join(f"b{b} {v:.4f}" for b, v in values.items())
        click.echo(f"  HEAR timestamps ({way}), s per s of audio: {cells}")
    click.echo(f"  frames are {result['speedup']:.1f}x faster than the sliding window at the defaults "
               f"(frames b{FRAME_BATCH}, windows b{DEFAULT_BATCH}), {result['speedup_fastest']:.1f}x fastest vs fastest")
    click.echo(f"  embed_frames of {long_minutes:.0f} min: {long['wall_s']:.1f} s, {long['frames']} frames, "
               f"peak RSS {long['peak_rss_mb']:.0f} MiB")


if __name__ == "__main__":
    main()
