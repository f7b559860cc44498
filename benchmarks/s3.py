"""Stores on an S3-protocol server against local disk, and two writers sharing one store.

    python -m benchmarks.s3 [--clips 3000] [--repeats 3]

Starts moto's S3 server in its own process on 127.0.0.1 (so the server does not share the client's interpreter),
points s3fs at it through the standard AWS environment variables, and measures in one run:
1. embed write throughput (windows/s) into the bucket vs into a local folder, each in a fresh writer process with
   a cheap synthetic teacher (so storage, not the teacher, is what differs), and with aisfx on a smaller corpus;
2. two writer processes started together on one new store vs one writer process doing it alone, in the bucket and
   on local disk: wall time from launch to the last exit (interpreter start included for both), rows each embedded
   (their sum against the store's rows: rows written twice), `verify_store`;
3. training-side target reads: the block reader (`ChunkTargets`, what training uses when targets exceed
   `train.memory_budget_gb`) over a `block_order` epoch plan in batches of `train.batch_size`, from the bucket vs
   from disk, against one training step of the demo student (forward + backward, the demo's batch and window):
   steps/s with targets on S3 over steps/s with targets on disk (goal >= 0.9).
Medians over `--repeats` alternating runs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import ROOT, Figure, fresh_demo_student, print_measures, save_results, work_corpus

CFG = dict(window_seconds=1.0, hop_seconds=1.0, dtype="float16", batch_size=32, workers=0, chunk_rows=512,
           shard_rows=1024, device="cpu", bf16=False, claim_seconds=60.0)


class SpectrumTeacher(torch.nn.Module):
    """A cheap deterministic teacher (log power spectrum of 512-sample frames, mean over frames, a fixed random
    projection to 512 dimensions): rows the size of aisfx's at a fraction of its cost."""

    name, sample_rate, embed_dim, fingerprint = "spectrum", 32000, 512, "spectrum-bench-1"

    def __init__(self):
        super().__init__()
        self.project = torch.randn(257, 512, generator=torch.Generator().manual_seed(0)) / 16

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        frames = waveforms[:, : waveforms.shape[1] // 512 * 512].reshape(len(waveforms), -1, 512)
        power = torch.fft.rfft(frames, dim=-1).abs().pow(2).add(1e-6).log().mean(dim=1)
        return power @ self.project


def write_store(corpus: str, stores: str, teacher_name: str) -> dict:
    """One writer (this process): embed `corpus` into `stores` with the spectrum teacher or aisfx; its report plus
    wall seconds."""
    from pipeline.corpus import Corpus
    from pipeline.embed import EmbedConfig, extract
    from pipeline.teachers.registry import build_teacher

    torch.set_num_threads(1)
    teacher = SpectrumTeacher() if teacher_name == "spectrum" else build_teacher(teacher_name, {})
    t0 = time.perf_counter()
    result = extract(EmbedConfig(teacher=teacher_name, **CFG), teacher, Corpus(corpus), stores)
    return dict(result.report, wall=time.perf_counter() - t0, url=result.url)


def launch_writer(corpus: str, stores: str, env: dict, teacher: str = "spectrum") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "benchmarks.s3", "--writer", stores, "--corpus", corpus,
                             "--teacher", teacher], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def timed(run) -> dict:
    """`run()`'s report plus `process_wall`: seconds from launch to exit, as two writers are timed together."""
    t0 = time.perf_counter()
    report = run()
    return dict(report, process_wall=time.perf_counter() - t0)


def finish(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"writer failed ({proc.returncode}): {out[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


class MotoServer:
    """moto's S3 server in a child process on a free port; the AWS variables that reach it."""

    def __enter__(self) -> "MotoServer":
        import socket
        import urllib.request

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.env['AWS_ENDPOINT_URL']}/moto-api/", timeout=2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def target_read_seconds(url: str, batch: int, block_chunks: int, steps: int) -> tuple[float, float]:
    """Median and mean seconds to gather one training batch of targets with the block reader, over an epoch plan
    (the mean carries the chunk reads, which land on a few batches of each block)."""
    from pipeline.store import EmbeddingStore
    from pipeline.train.sampling import block_order
    from pipeline.train.targets import load_targets

    store = EmbeddingStore.open(url)
    targets = load_targets([store], "window", memory_budget_bytes=0, cache_chunks=max(16, block_chunks))
    rng = np.random.default_rng(0)
    draws = block_order(rng.integers(0, store.layout.n_windows, steps * batch), store.layout.chunk_rows,
                        block_chunks, rng)
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        targets.get(draws[i * batch: (i + 1) * batch])
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.mean(times))


def student_step_seconds(batch: int, steps: int = 8) -> float:
    """Median seconds of one forward + backward of the demo student on a batch of its windows (log-mels given)."""
    model = fresh_demo_student().train()
    backbone, frontend = model.encoder.backbone, model.encoder.frontend
    window = model.config.window_samples
    x = frontend(0.1 * torch.randn(batch, window)).detach()
    opt = torch.optim.SGD(backbone.parameters(), lr=1e-3)
    times = []
    for _ in range(steps + 2):
        t0 = time.perf_counter()
        out = backbone(x)
        loss = out.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[2:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200, help="target batches timed per store")
    parser.add_argument("--aisfx-clips", type=int, default=300,
                        help="clips embedded with aisfx, local and S3 (0: skip)")
    parser.add_argument("--writer", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--teacher", default="spectrum", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        print(json.dumps(write_store(args.corpus, args.writer, args.teacher), default=str))
        return
    torch.set_num_threads(1)
    from stages.params import read_params, section

    train = section(read_params(ROOT / "params.yaml"), "train")
    batch, block_chunks = int(train["batch_size"]), int(train["block_chunks"])
    with tempfile.TemporaryDirectory() as tmp, MotoServer() as server:
        tmp = Path(tmp)
        corpus, origin = work_corpus(tmp / "corpus", args.clips)
        env = dict(os.environ, **server.env, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
        os.environ.update(server.env)
        import fsspec

        fsspec.filesystem("s3").mkdir("bench")
        local, remote, one, two, one_local, two_local, aisfx = [], [], [], [], [], [], []
        if args.aisfx_clips:
            small, _ = work_corpus(tmp / "small", args.aisfx_clips)
            aisfx = [(finish(launch_writer(small.path, str(tmp / "aisfx-local"), env, "aisfx")),
                      finish(launch_writer(small.path, "s3://bench/aisfx", env, "aisfx")))]
        for r in range(args.repeats):
            one_local.append(timed(lambda: finish(launch_writer(corpus.path, str(tmp / f"one-local{r}"), env))))
            t0 = time.perf_counter()
            pair = [launch_writer(corpus.path, str(tmp / f"two-local{r}"), env) for _ in range(2)]
            reports = [finish(p) for p in pair]
            two_local.append(dict(wall=time.perf_counter() - t0, rows=[x["windows_this_run"] for x in reports]))
            local.append(finish(launch_writer(corpus.path, str(tmp / f"local{r}"), env)))
            remote.append(finish(launch_writer(corpus.path, f"s3://bench/write{r}", env)))
            one.append(timed(lambda: finish(launch_writer(corpus.path, f"s3://bench/one{r}", env))))
            t0 = time.perf_counter()
            pair = [launch_writer(corpus.path, f"s3://bench/two{r}", env) for _ in range(2)]
            reports = [finish(p) for p in pair]
            two.append(dict(wall=time.perf_counter() - t0, rows=[x["windows_this_run"] for x in reports],
                            windows=reports[0]["windows"], url=reports[0]["url"]))
        from pipeline.store import verify_store

        problems = [verify_store(t["url"], corpus.fingerprint) for t in two]
        twice = [sum(t["rows"]) - t["windows"] for t in two]
        reads_local = target_read_seconds(local[0]["url"], batch, block_chunks, args.steps)
        reads_s3 = target_read_seconds(remote[0]["url"], batch, block_chunks, args.steps)
        step = student_step_seconds(batch)
    med = lambda xs: float(np.median(xs))  # noqa: E731
    rate_local = med([x["windows_this_run"] / x["wall"] for x in local])
    rate_s3 = med([x["windows_this_run"] / x["wall"] for x in remote])
    wall_one, wall_two = med([x["process_wall"] for x in one]), med([t["wall"] for t in two])
    steps_ratio = (step + reads_local[1]) / (step + reads_s3[1])
    wall_one_local = med([x["process_wall"] for x in one_local])
    wall_two_local = med([t["wall"] for t in two_local])
    figures = [
        Figure("embed write, S3 / local (windows/s)", rate_s3 / rate_local, ">=", 0.9, "x",
               f"{rate_s3:.0f} vs {rate_local:.0f} windows/s, whole writer process, cheap teacher"),
    ]
    for here, there in aisfx:
        a, b = here["windows_this_run"] / here["wall"], there["windows_this_run"] / there["wall"]
        figures.append(Figure("embed write with aisfx, S3 / local", b / a, ">=", 0.9, "x",
                              f"{b:.1f} vs {a:.1f} windows/s ({here['windows']} windows, one thread)"))
    figures += [
        Figure("two writers / one writer (wall, S3)", wall_two / wall_one, "<=", 1.2, "x",
               f"{wall_two:.1f} s vs {wall_one:.1f} s; rows per writer {[t['rows'] for t in two]}"),
        Figure("two writers / one writer (wall, local disk)", wall_two_local / wall_one_local, "<=", 1.2, "x",
               f"{wall_two_local:.1f} s vs {wall_one_local:.1f} s; rows per writer {[t['rows'] for t in two_local]}"),
        Figure("rows written twice", float(max(twice)), "<=", 0, "", f"per repeat {twice}"),
        Figure("store verify problems (two writers)", float(sum(len(p) for p in problems)), "<=", 0, ""),
        Figure("training steps/s, targets on S3 / on disk", steps_ratio, ">=", 0.9, "x",
               f"step {step * 1e3:.0f} ms; target batch mean {reads_s3[1] * 1e3:.2f} ms (S3) vs "
               f"{reads_local[1] * 1e3:.2f} ms (disk), medians {reads_s3[0] * 1e3:.2f} / {reads_local[0] * 1e3:.2f}"),
    ]
    print(f"corpus: {origin}; {local[0]['windows']} windows of 512-d float16, shards of {CFG['shard_rows']} rows")
    print_measures([f.row()[:3] for f in figures])
    for f in figures:
        print(f"- {f.name}: {f.note}")
    save_results(ROOT / "benchmarks" / "s3.json", figures, {"corpus": origin, "repeats": args.repeats,
                                                           "local": local, "s3": remote, "one": one, "two": two,
                                                           "one_local": one_local, "two_local": two_local,
                                                           "aisfx": aisfx})


if __name__ == "__main__":
    main()
