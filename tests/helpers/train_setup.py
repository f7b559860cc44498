"""Tiny corpora, embedding stores and configs for the training tests (real prepare + extract, no mocks)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from torch import nn

from pipeline.audio.logmel import LogMelConfig
from pipeline.corpus import Corpus
from pipeline.embed import EmbedConfig, extract
from pipeline.prepare import PrepareConfig, prepare_corpus
from pipeline.store import EmbeddingStore, open_current, write_pointer
from pipeline.train.config import TrainConfig

CLASSES = ("low_tone", "high_tone", "low_noise", "high_noise")


def _clip(kind: str, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of a class: a jittered tone or low/high-passed noise, at a random level."""
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    amp = rng.uniform(0.2, 0.6)
    if kind.endswith("tone"):
        freq = rng.uniform(250, 600) if kind == "low_tone" else rng.uniform(2500, 5000)
        wave = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    else:
        spec = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n, 1 / rate)
        spec[(freqs > 1000) if kind == "low_noise" else (freqs < 3000)] = 0
        wave = np.fft.irfft(spec, n)
        wave /= np.abs(wave).max() + 1e-9
    return (amp * wave + 0.01 * rng.standard_normal(n)).astype(np.float32)


def write_clips(folder: Path, n: int, rate: int = 16000, seed: int = 0,
                seconds: tuple[float, float] = (0.7, 1.5), valid_every: int = 5) -> Path:
    """`n` FLAC clips of 4 classes plus `manifest.csv` (path, clip_id, labels, split); returns the manifest."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        kind = CLASSES[i % len(CLASSES)]
        sf.write(folder / f"c{i:04d}.flac", _clip(kind, rng.uniform(*seconds), rate, rng), rate)
        rows.append({"path": f"c{i:04d}.flac", "clip_id": f"c{i:04d}", "labels": kind,
                     "split": "valid" if i % valid_every == valid_every - 1 else "train"})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def make_corpus(root: Path, n: int = 48, rate: int = 16000, seed: int = 0, **kwargs) -> Corpus:
    """Clips -> `prepare` -> `<root>/corpus/corpus.h5`."""
    manifest = write_clips(root / "audio", n, rate, seed, **kwargs)
    prepare_corpus(PrepareConfig(input=str(manifest), output=str(root / "corpus"), sample_rate=rate, workers=1))
    return Corpus(root / "corpus" / "corpus.h5")


def make_store(corpus: Corpus, out_dir: Path, teacher: nn.Module, window_seconds: float = 0.5,
               chunk_rows: int = 8, shard_rows: int = 16, dtype: str = "float32") -> EmbeddingStore:
    """Embed the corpus with `teacher` (real `extract`), write the pointer, return the opened store."""
    cfg = EmbedConfig(teacher=teacher.name, window_seconds=window_seconds, hop_seconds=window_seconds,
                      dtype=dtype, batch_size=8, workers=0, chunk_rows=chunk_rows, shard_rows=shard_rows,
                      device="cpu")
    result = extract(cfg, teacher, corpus, str(out_dir))
    write_pointer(str(out_dir), EmbeddingStore.open(result.url))
    return open_current(str(out_dir), corpus.fingerprint)


def frontend_config(rate: int = 16000) -> LogMelConfig:
    """A small log-mel front-end (32 mels) at the corpus rate."""
    return LogMelConfig(sample_rate=rate, n_mels=32, fmin=50.0, fmax=rate / 2)


def tiny_config(**overrides) -> TrainConfig:
    """A tiny, CPU, single-process, deterministic training config (width-0.1 MobileNetV3)."""
    base = dict(student="mobilenetv3", student_options={"width": 0.1}, head_hidden=(32,), sampler="uniform",
                epochs=2, epoch_size=64, batch_size=16, lr=3e-3, warmup_epochs=0.0, workers=0, device="cpu",
                bf16=False, val_max_rows=64, memory_budget_gb=1.0, block_chunks=2,
                # the clip-target recipe with augmentation, so every branch of the loop runs
                loss="cosine", target="clip", mixup_alpha=0.3, time_masks=2, freq_masks=2, cache_logmels=False,
                channels_last=False, spectrum_weight=0.0)  # the spectrum head has tests of its own
    base.update(overrides)
    return TrainConfig(**base)


class BandTeacher(nn.Module):
    """A deterministic teacher whose output is a fixed random projection of the centred log band energies.

    Unlike ToyTeacher its embeddings vary strongly between sound classes and have no large shared offset,
    so the constant mean-target predictor is a meaningful floor.
    """

    def __init__(self, sample_rate: int = 16000, dim: int = 16, bands: int = 24, seed: int = 0, name: str = "band"):
        super().__init__()
        self.name = name  # a second teacher of a multi-teacher test needs its own name
        g = torch.Generator().manual_seed(seed)
        self.sample_rate, self.embed_dim, self.bands = sample_rate, dim, bands
        self.register_buffer("proj", torch.randn(bands, dim, generator=g) / bands ** 0.5)
        self.calls = 0
        self.fingerprint = hashlib.sha256(self.proj.numpy().tobytes()).hexdigest()[:16]

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        self.calls += 1
        spec = torch.stft(waveforms, 512, 256, window=torch.hann_window(512), return_complex=True).abs() ** 2
        usable = spec[:, 1: 1 + (spec.shape[1] - 1) // self.bands * self.bands]  # (batch, freqs, frames)
        energy = usable.reshape(len(waveforms), self.bands, -1, usable.shape[-1]).mean(dim=(2, 3))
        logs = torch.log(energy + 1e-6)  # (batch, bands)
        return (logs - logs.mean(dim=1, keepdim=True)) @ self.proj
