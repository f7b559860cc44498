"""Scale simulation: codec cost and disk, embed/cluster/train throughput per core, and an AudioSet projection.

    python -m benchmarks.scale [--clips 1500] [--cores 64] [--gpus 8] [--no-append]

Generates `--clips` 10 s clips of synthetic audio (harmonic tones with random f0, vibrato and envelopes,
coloured noise bursts, chirps, a pink-ish floor), writes them through `CorpusWriter` in every codec (encoding
in worker processes, as `prepare` does), then measures per core (CPU seconds, so a shared machine's load does
not count against the code): encode clips/s, random-access `Corpus.clip` decode clips/s, HDF5 bytes per hour;
the embed stage with a ViT-B-sized TorchScript teacher stand-in; streaming k-means rows/s; and MobileNetV3
(width 1.0) train steps. It prints a markdown report with the projected wall time and disk for AudioSet
(2M x 10 s) on `--cores` cores and `--gpus` GPUs, and appends it to BENCHMARKS.md under `## Scale`.
GPU rates are ASSUMPTIONS (effective TFLOP/s flags), not measurements: no GPU is used here.
"""
from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmarks.common import Clock
from pipeline.audio.codecs import CODEC_NAMES, CODECS, from_int16, to_int16
from pipeline.audio.logmel import LogMel, LogMelConfig
from pipeline.corpus import Corpus, CorpusWriter, encode_clip

RATE = 32000
SECONDS = 10.0
AUDIOSET_CLIPS = 2_000_000





# ---------------------------------------------------------------- synthetic audio

def _envelope(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """A random attack / hold / exponential-decay envelope placed somewhere in `n` samples."""
    start = rng.integers(0, n)
    length = int(rng.uniform(0.2, 6.0) * rate)
    t = np.arange(min(length, n - start)) / rate
    env = np.zeros(n, dtype=np.float32)
    env[start:start + len(t)] = np.minimum(1.0, t / rng.uniform(0.002, 0.2)) * np.exp(-t * rng.uniform(0.1, 4.0))
    return env


def _harmonic(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """A harmonic tone (wavetable of random partials) with vibrato, f0 log-uniform in 60-1200 Hz."""
    f0 = np.exp(rng.uniform(np.log(60), np.log(1200)))
    partials = max(1, int(min(20, 0.45 * rate / (f0 * 1.03))))  # stay under Nyquist with vibrato
    k = np.arange(partials) + 1
    table = (rng.uniform(0.2, 1.0, partials) / k ** rng.uniform(0.5, 2.0)) @ \
        np.sin(2 * np.pi * np.outer(k, np.arange(4096) / 4096) + rng.uniform(0, 6.3, (partials, 1)))
    vib = 1 + rng.uniform(0, 0.02) * np.sin(2 * np.pi * rng.uniform(3, 7) * np.arange(n) / rate)
    phase = np.cumsum(f0 * vib / rate)
    return (table[(phase * 4096).astype(np.int64) % 4096] / np.abs(table).max()).astype(np.float32)


def _noise_burst(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """White noise shaped to a random spectral tilt and band."""
    spec = np.fft.rfft(rng.standard_normal(n).astype(np.float32))
    f = np.fft.rfftfreq(n, 1 / rate)
    lo, hi = sorted(rng.uniform(50, rate / 2, 2))
    spec *= ((f >= lo) & (f <= hi)) / np.maximum(f, 50) ** rng.uniform(0, 1)
    x = np.fft.irfft(spec, n).astype(np.float32)
    return x / (np.abs(x).max() + 1e-9)


def _chirp(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """An exponential sine sweep between two random frequencies over the clip."""
    f1, f2 = np.exp(rng.uniform(np.log(100), np.log(0.4 * rate), 2))
    freq = f1 * (f2 / f1) ** (np.arange(n) / n)
    return np.sin(2 * np.pi * np.cumsum(freq) / rate).astype(np.float32)


def synth_clip(seed: int, rate: int = RATE, seconds: float = SECONDS) -> np.ndarray:
    """One clip: 1-4 tones, 0-3 noise bursts, 0-2 chirps and a noise floor, peak in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    parts = [(_harmonic, rng.integers(1, 5)), (_noise_burst, rng.integers(0, 4)), (_chirp, rng.integers(0, 3))]
    x = 0.003 * _noise_burst(rng, n, rate)
    for make, count in parts:
        for _ in range(count):
            x += rng.uniform(0.1, 1.0) * _envelope(rng, n, rate) * make(rng, n, rate)
    return (x * rng.uniform(0.1, 0.9) / (np.abs(x).max() + 1e-9)).astype(np.float32)


# ---------------------------------------------------------------- corpora in every codec

def _make_one(seed: int) -> tuple[np.ndarray, dict[str, tuple[bytes, float]], float]:
    """Worker: generate clip `seed`, encode it in each compressed codec; (int16, {codec: (bytes, cpu s)}, gen s)."""
    t0 = time.process_time()
    wave = synth_clip(seed)
    gen = time.process_time() - t0
    encoded = {}
    for name in CODECS:
        t0 = time.process_time()
        data = encode_clip(wave, RATE, name)
        encoded[name] = (data, time.process_time() - t0)
    return to_int16(wave), encoded, gen


@dataclass
class CodecStats:
    """What writing one codec's corpus cost and produced."""

    encode_cpu: float = 0.0  # worker CPU seconds in the encoder (pcm16: int16 conversion in the main process)
    write_wall: float = 0.0  # main-process seconds appending to HDF5
    size: int = 0
    decode_rate: float = 0.0  # random-access Corpus.clip reads per CPU second


def write_corpora(folder: Path, clips: int, workers: int) -> tuple[dict[str, CodecStats], float, Clock]:
    """Generate `clips` clips once and write them in every codec; returns stats, generation CPU s, total clock."""
    writers = {c: CorpusWriter(folder / f"{c}.h5", RATE, codec=c) for c in CODEC_NAMES}
    stats = {c: CodecStats() for c in CODEC_NAMES}
    gen_cpu = 0.0
    with Clock() as clock, mp.get_context("spawn").Pool(workers) as pool:
        for i, (pcm, encoded, gen) in enumerate(pool.imap(_make_one, range(clips), chunksize=4)):
            gen_cpu += gen
            t0 = time.perf_counter()
            writers["pcm16"].append(f"c{i}", from_int16(pcm))
            stats["pcm16"].write_wall += time.perf_counter() - t0
            for name, (data, cpu) in encoded.items():
                t0 = time.perf_counter()
                writers[name].append_encoded(f"c{i}", data, len(pcm))
                stats[name].write_wall += time.perf_counter() - t0
                stats[name].encode_cpu += cpu
    for name, writer in writers.items():
        writer.close()
        stats[name].size = (folder / f"{name}.h5").stat().st_size
    stats["pcm16"].encode_cpu = _int16_cpu(clips)
    return stats, gen_cpu, clock


def _int16_cpu(clips: int) -> float:
    """CPU seconds to quantise `clips` clips to int16 (pcm16's whole 'encoder'), from 20 timed clips."""
    wave = synth_clip(0)
    t0 = time.process_time()
    for _ in range(20):
        to_int16(wave)
    return (time.process_time() - t0) / 20 * clips


def decode_rate(path: Path, reads: int, seed: int = 0) -> float:
    """Random-access `Corpus.clip` reads per CPU second (fresh handle, rows drawn with replacement)."""
    corpus = Corpus(path)
    rows = np.random.default_rng(seed).integers(0, len(corpus), reads)
    corpus.clip(0)  # open the handle outside the timing
    t0 = time.process_time()
    for row in rows:
        corpus.clip(int(row))
    return reads / (time.process_time() - t0)


# ---------------------------------------------------------------- embed: a ViT-B-sized teacher stand-in

class PatchTransformer(nn.Module):
    """ViT-B/16 over log-mels (AST-like): 128 mels x 10 ms frames, 16x16 patches, 12 layers of width 768."""

    def __init__(self, frames: int = 992, dim: int = 768, layers: int = 12, heads: int = 12):
        super().__init__()
        self.frontend = LogMel(LogMelConfig(sample_rate=RATE, n_mels=128, win_ms=25.0, hop_ms=10.0))
        self.frames = frames
        self.patch = nn.Linear(16 * 16, dim)
        self.pos = nn.Parameter(0.02 * torch.randn(1, 8 * (frames // 16), dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        x = self.frontend(waves)[:, :, : self.frames]  # (batch, 128, frames)
        b = x.shape[0]
        # (batch, 8 mel patches, 16, time patches, 16) -> (batch, patches, 256)
        x = x.reshape(b, 8, 16, self.frames // 16, 16).permute(0, 1, 3, 2, 4).reshape(b, -1, 256)
        x = self.blocks(self.patch(x) + self.pos)  # (batch, patches, dim)
        return self.norm(x).mean(dim=1)  # (batch, dim)


def transformer_flops(tokens: int, dim: int = 768, layers: int = 12, patch_in: int = 256) -> float:
    """Forward FLOPs (2 per MAC) of the stand-in for one clip: projections, MLP, attention scores and mixing."""
    per_layer = tokens * (4 * dim * dim + 2 * dim * 4 * dim) + 2 * tokens * tokens * dim
    return 2.0 * (layers * per_layer + tokens * patch_in * dim)


def trace_teacher(path: Path) -> tuple[int, float]:
    """Trace the stand-in to TorchScript at `path`; returns (parameters, forward FLOPs per 10 s clip)."""
    torch.manual_seed(0)
    model = PatchTransformer().eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.trace(model, torch.zeros(1, int(RATE * SECONDS))).save(str(path))
    return sum(p.numel() for p in model.parameters()), transformer_flops(model.pos.shape[1])


def embed_rate(folder: Path, clips: int) -> dict:
    """`extract` with the traced stand-in on a `clips`-clip mp3 corpus (decoded in 1 DataLoader worker)."""
    from pipeline.embed import EmbedConfig, extract
    from pipeline.teachers.registry import build_teacher

    writer = CorpusWriter(folder / "embed" / "corpus.h5", RATE, codec="mp3")
    for i in range(clips):
        writer.append(f"c{i}", synth_clip(10_000_000 + i))
    corpus = Corpus(writer.close().path)
    params, flops = trace_teacher(folder / "vit.pt")
    teacher = build_teacher("torchscript", {"path": str(folder / "vit.pt"), "sample_rate": RATE, "embed_dim": 768})
    cfg = EmbedConfig(teacher="torchscript", window_seconds=SECONDS, hop_seconds=SECONDS, batch_size=4, workers=1,
                      device="cpu", bf16=False)
    with Clock() as clock:
        extract(cfg, teacher, corpus, str(folder / "embed"))
    return {"params": params, "flops": flops, "clips": clips, "per_cpu_s": clips / clock.cpu, "wall": clock.wall}


# ---------------------------------------------------------------- cluster and train

def cluster_rate(folder: Path, rows: int, dim: int, k: int) -> float:
    """Rows per CPU second of `build_index` (streaming k-means fit + assign) on a generated float16 store."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from benchmarks.cluster import synthetic_store
    from pipeline.cluster.build import build_index
    from pipeline.cluster.config import ClusterConfig

    store = synthetic_store(str(folder / "store"), rows, dim, centres=k)
    manifest = pd.DataFrame({"clip_id": [f"c{i}" for i in range(rows)]})
    with threadpool_limits(1), Clock() as clock:
        build_index(store, manifest, ClusterConfig(teacher="synth", k=k))
    return rows / clock.cpu


def train_rate(steps: int) -> dict:
    """Samples per CPU second of `train_step` (MobileNetV3 width 1.0, batch 32, 10 s clips, cosine to 768-d)."""
    from pipeline import distributed
    from pipeline.students.macs import count_macs, count_params
    from pipeline.train.config import TrainConfig
    from pipeline.train.data import TrainData
    from pipeline.train.loop import train_step
    from pipeline.train.runtime import setup_runtime
    from pipeline.train.targets import RamTargets

    cfg = TrainConfig(student="mobilenetv3", student_options={"width": 1.0}, batch_size=32, device="cpu",
                      head_hidden=(512,), loss="cosine", mixup_alpha=0.3, time_masks=2, freq_masks=2,
                      cache_logmels=False, channels_last=False)  # the step this benchmark has always timed
    targets = RamTargets(np.random.default_rng(0).standard_normal((32, 768)), np.ones(32, dtype=bool))
    data = TrainData(None, int(RATE * SECONDS), targets, np.ones(32), np.zeros(0, dtype=np.int64))
    rt = setup_runtime(cfg, data, LogMelConfig(sample_rate=RATE), distributed.DistInfo())
    waves = torch.from_numpy(np.stack([synth_clip(20_000_000 + i) for i in range(32)]))  # (32, samples)
    batch_targets = targets.get(np.arange(32))  # (32, 768)
    gen = torch.Generator().manual_seed(0)
    step = lambda: train_step(cfg, rt, rt.frontend(waves).detach(), batch_targets, gen, cfg.lr)  # noqa: E731
    step()  # warm-up
    with Clock() as clock:
        for _ in range(steps):
            step()
    example = rt.frontend(waves[:1])  # (1, mels, frames)
    rt.model.eval()
    macs = count_macs(rt.model.student, example)
    return {"per_cpu_s": 32 * steps / clock.cpu, "params": count_params(rt.model.student), "macs": macs}


def resample_cpu(reads: int = 10) -> float:
    """CPU seconds to resample one 10 s clip from 44.1 kHz to the corpus rate (soxr HQ), as prepare does."""
    from pipeline.audio.decode import resample

    wave = np.random.default_rng(0).standard_normal(int(44100 * SECONDS)).astype(np.float32)
    t0 = time.process_time()
    for _ in range(reads):
        resample(wave, 44100, RATE)
    return (time.process_time() - t0) / reads


# ---------------------------------------------------------------- projection and report

@dataclass(frozen=True)
class Node:
    """The machine the projection is for, and the assumed GPU speeds (no GPU is measured here)."""

    cores: int
    gpus: int
    vit_tflops: float  # effective sustained TFLOP/s of one GPU on the ViT-B teacher (bf16)
    cnn_tflops: float  # effective sustained TFLOP/s of one GPU training MobileNetV3 (depthwise convs: low)
    train_samples: int  # samples drawn over the whole training run


def hours(seconds: float) -> str:
    """Seconds as hours, minutes or seconds, whichever reads best."""
    if seconds >= 360:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def codec_rows(m: dict, node: Node) -> list[str]:
    """Markdown rows per codec: measured per-core rates, size, and AudioSet disk and prepare time."""
    rows = []
    clips, audio_h = m["clips"], m["clips"] * SECONDS / 3600
    for name, s in m["codecs"].items():
        per_clip = s.size / clips
        # prepare decodes a source file (assumed to cost an mp3 decode + a 44.1 kHz resample) then encodes
        cpu = 1 / m["codecs"]["mp3"].decode_rate + m["resample"] + s.encode_cpu / clips
        wall = max(AUDIOSET_CLIPS * cpu / node.cores, AUDIOSET_CLIPS * s.write_wall / clips)
        rows.append(f"| {name} | {clips / s.encode_cpu:,.0f} | {s.decode_rate:,.0f} | {per_clip / 1e3:,.1f} | "
                    f"{s.size / audio_h / 1e9:.2f} | {AUDIOSET_CLIPS * per_clip / 1e9:,.0f} | "
                    f"{hours(wall)} |")
    return rows


def node_rates(m: dict, node: Node, codec: str) -> tuple[float, float]:
    """(embed clips/s, train samples/s) of the whole node; with GPUs, capped by how fast its cores decode."""
    decode = node.cores * m["codecs"][codec].decode_rate  # clips/s the node's cores can decode
    e, t = m["embed"], m["train"]
    if not node.gpus:
        return node.cores * e["per_cpu_s"], node.cores * t["per_cpu_s"]
    gpu_embed = node.gpus * node.vit_tflops * 1e12 / e["flops"]
    gpu_train = node.gpus * node.cnn_tflops * 1e12 / (6 * t["macs"])  # fwd+bwd ~ 3x fwd, 2 FLOPs per MAC
    return min(gpu_embed, decode), min(gpu_train, decode)


def stage_rows(m: dict, node: Node, codec: str) -> list[str]:
    """Markdown rows per stage: measured per-core rate, AudioSet wall on the node's CPUs alone and with its GPUs."""
    cpu, gpu = node_rates(m, replace(node, gpus=0), codec), node_rates(m, node, codec)
    e, t, n = m["embed"], m["train"], node.train_samples
    cluster = hours(AUDIOSET_CLIPS / m["cluster"])
    return [f"| embed (ViT-B stand-in) | {e['per_cpu_s']:.2f} clips/s | {hours(AUDIOSET_CLIPS / cpu[0])} | "
            f"{hours(AUDIOSET_CLIPS / gpu[0])} ({gpu[0]:,.0f} clips/s) |",
            f"| cluster (k-means fit + assign, 1 process) | {m['cluster']:,.0f} rows/s | {cluster} | {cluster} |",
            f"| train (MobileNetV3 w1.0, batch 32), {n:,} samples | {t['per_cpu_s']:.2f} samples/s | "
            f"{hours(n / cpu[1])} | {hours(n / gpu[1])} ({gpu[1]:,.0f} samples/s) |"]


def small_run_rows(m: dict, clips: int, cores: int) -> list[str]:
    """Projected times of the 20k-clip generated mp3 corpus through prepare, embed, cluster, train on this CPU."""
    mp3 = m["codecs"]["mp3"]
    prepare = clips * (m["gen_cpu"] / m["clips"] + mp3.encode_cpu / m["clips"]) / cores
    embed = clips / (cores * m["embed"]["per_cpu_s"])
    cluster = clips / m["cluster"]
    train = clips / (cores * m["train"]["per_cpu_s"])  # one pass: as many samples as clips
    total = prepare + embed + cluster + train
    return [f"| generate + encode mp3 (prepare) | {hours(prepare)} |", f"| embed, ViT-B stand-in | {hours(embed)} |",
            f"| cluster | {hours(cluster)} |", f"| train, {clips:,} samples (1 pass) | {hours(train)} |",
            f"| **total** | **{hours(total)}** |"]


def machine() -> str:
    """nproc, CPU model and git commit, for the report header."""
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return f"nproc {os.cpu_count()}, {model}, torch {torch.__version__}, commit {commit}"


def report(m: dict, node: Node, codec: str, small: int) -> str:
    """The markdown section appended to BENCHMARKS.md."""
    e, t = m["embed"], m["train"]
    lines = [
        "## Scale", "",
        f"{datetime.date.today().isoformat()}; {machine()}. `python -m benchmarks.scale --clips {m['clips']} "
        f"--cores {node.cores} --gpus {node.gpus}`: {m['clips']:,} generated 10 s clips at {RATE} Hz "
        f"(tones, noise bursts, chirps). Rates are per core: clips per CPU-second (user+sys, workers included).", "",
        "| codec | encode clips/s/core | decode clips/s/core (random `Corpus.clip`) | KB/clip | GB per hour "
        "of audio | AudioSet disk (GB) | AudioSet prepare wall |",
        "|---|---|---|---|---|---|---|", *codec_rows(m, node), "",
        f"AudioSet = {AUDIOSET_CLIPS:,} clips x 10 s on {node.cores} cores and {node.gpus} GPU(s); corpus codec "
        f"for embed/train reads: {codec}.", "",
        f"| stage | measured per core | AudioSet wall, {node.cores} cores | AudioSet wall, {node.cores} cores + "
        f"{node.gpus} GPUs (assumed speeds) |", "|---|---|---|---|", *stage_rows(m, node, codec), "",
        f"Teacher stand-in: ViT-B/16 over 128-mel x 10 ms log-mels (496 patches of 16x16, 12 layers, width 768, "
        f"MLP 3072), {e['params'] / 1e6:.1f}M params, {e['flops'] / 1e9:.1f} GFLOPs per 10 s clip, traced with "
        f"torch.jit.trace and run through `pipeline.embed.extract` (torchscript teacher, 1 DataLoader worker "
        f"decoding mp3) on {e['clips']} clips. Student: MobileNetV3 width 1.0, {t['params'] / 1e6:.2f}M params, "
        f"{t['macs'] / 1e9:.2f} GMACs per 10 s clip.", "",
        f"Generated {small:,}-clip mp3 corpus through prepare, embed, cluster, train on this machine "
        f"({os.cpu_count()} cores, no GPU), projected from the rates above:", "",
        "| step | projected wall |", "|---|---|", *small_run_rows(m, small, os.cpu_count() or 1), "",
        "Assumptions (not measured):", *assumptions(node), "", f"This run took {m['wall'] / 60:.1f} min.", "",
    ]
    return "\n".join(lines)


def assumptions(node: Node) -> list[str]:
    """The report's list of what the projection assumes rather than measures."""
    return [
        "- prepare decodes a source file at the cost of one measured mp3 decode plus one 44.1 kHz -> 32 kHz "
        "resample, in parallel on all cores; HDF5 writes are serial in the main process (wall = the larger).",
        "- mp3/opus are VBR: sizes depend on content, and these generated clips are sparser than most AudioSet "
        "clips (denser test audio measured ~70 KB/clip for mp3), so expect real corpora somewhat larger.",
        f"- GPU rates are assumed effective sustained throughputs, not measured: {node.vit_tflops:g} TFLOP/s "
        f"per GPU on the ViT-B teacher, {node.cnn_tflops:g} TFLOP/s per GPU training MobileNetV3 (training "
        f"= 3x forward FLOPs). With GPUs, a stage runs at the lower of the GPU rate and the rate all cores "
        f"decode the corpus codec; one-GPU-per-process overheads, I/O and stragglers are ignored.",
        "- CPU-only rates scale linearly with cores (optimistic for train, whose per-core rate is 1 thread); "
        "cluster runs in one process at the measured single-thread rate (conservative).",
        f"- training draws {node.train_samples:,} samples in all (`--train-samples`).",
    ]


def measure(folder: Path, args: argparse.Namespace) -> dict:
    """Every measurement of the report (progress on stderr)."""
    def say(msg: str) -> None:
        print(f"[scale] {msg}", flush=True, file=sys.stderr)

    torch.set_num_threads(1)
    start = time.perf_counter()
    say("train")  # the short measurements first, so a failure shows before the long corpus writes
    train = train_rate(args.train_steps)
    say("cluster")
    cluster = cluster_rate(folder, args.cluster_rows, 768, args.k)
    say("embed (ViT-B stand-in)")
    embed = embed_rate(folder, args.embed_clips)
    say(f"writing {args.clips} clips in {len(CODEC_NAMES)} codecs with {args.workers} workers")
    codecs, gen_cpu, clock = write_corpora(folder, args.clips, args.workers)
    say(f"corpora written in {clock.wall:.0f} s; timing random-access decode")
    for name, s in codecs.items():
        s.decode_rate = decode_rate(folder / f"{name}.h5", min(args.clips, args.decode_reads))
    return {"clips": args.clips, "codecs": codecs, "gen_cpu": gen_cpu, "resample": resample_cpu(),
            "embed": embed, "cluster": cluster, "train": train, "wall": time.perf_counter() - start}


def main() -> None:
    """Measure, print the markdown report, append it to BENCHMARKS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1500, help="generated 10 s clips per codec corpus")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="generate/encode processes")
    ap.add_argument("--decode-reads", type=int, default=500, help="random Corpus.clip reads per codec")
    ap.add_argument("--embed-clips", type=int, default=8)
    ap.add_argument("--cluster-rows", type=int, default=50_000)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--train-steps", type=int, default=2)
    ap.add_argument("--cores", type=int, default=64, help="projection: CPU cores of the node")
    ap.add_argument("--gpus", type=int, default=8, help="projection: GPUs of the node")
    ap.add_argument("--codec", default="mp3", choices=CODEC_NAMES, help="projection: corpus codec read by embed/train")
    ap.add_argument("--vit-tflops", type=float, default=100.0, help="ASSUMED effective TFLOP/s per GPU, ViT-B")
    ap.add_argument("--cnn-tflops", type=float, default=10.0, help="ASSUMED effective TFLOP/s per GPU, MobileNetV3")
    ap.add_argument("--train-samples", type=int, default=15_000_000, help="projection: samples drawn in training")
    ap.add_argument("--small-clips", type=int, default=20_000, help="size of the generated mp3 corpus projected")
    ap.add_argument("--no-append", action="store_true", help="print only; do not append to BENCHMARKS.md")
    args = ap.parse_args()
    node = Node(args.cores, args.gpus, args.vit_tflops, args.cnn_tflops, args.train_samples)
    with tempfile.TemporaryDirectory() as tmp:
        text = report(measure(Path(tmp), args), node, args.codec, args.small_clips)
    print(text)
    if not args.no_append:
        path = Path("BENCHMARKS.md")
        with open(path, "a") as f:
            f.write(("" if path.stat().st_size == 0 else "\n") + text)


if __name__ == "__main__":
    main()
