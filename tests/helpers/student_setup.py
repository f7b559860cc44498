"""Student checkpoints for the inference and export tests: a real tiny training run, or fresh weights."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from train_setup import BandTeacher, frontend_config, make_corpus, make_store, tiny_config

from pipeline.audio.logmel import LogMel, LogMelConfig
from pipeline.corpus import Corpus
from pipeline.inference.checkpoint import save_student
from pipeline.inference.model import StudentModel, load_student
from pipeline.inference.quantize import corpus_audio
from pipeline.students.head import HeadOptions, ProjectionHead
from pipeline.students.registry import build_student
from pipeline.train.data import distill_data
from pipeline.train.loop import fit

WINDOW = 8000  # 0.5 s at 16 kHz


def trained_student(root: Path, teachers: int = 1) -> tuple[Path, Corpus]:
    """corpus -> band-teacher store(s) -> 2 epochs of `fit` -> `<root>/student/student.pt` (as `ssondo train`
    writes); `teachers=2` adds a second teacher (band2, 8-d), so the student has one head per teacher."""
    corpus = make_corpus(root, n=24)
    seconds = WINDOW / corpus.sample_rate
    stores = [make_store(corpus, root / "embeddings", BandTeacher(), window_seconds=seconds)]
    if teachers == 2:
        stores.append(make_store(corpus, root / "band2", BandTeacher(dim=8, seed=3, name="band2"), window_seconds=seconds))
    cfg = tiny_config(epochs=2, epoch_size=32)
    fit(cfg, distill_data(cfg, corpus, stores, WINDOW, None, None), frontend_config(), root / "student")
    return root / "student" / "student.pt", corpus


def student_with_calibration(root: Path) -> tuple[StudentModel, np.ndarray]:
    """`trained_student` loaded for inference, with 16 windows of its corpus (int8 calibration audio)."""
    path, corpus = trained_student(root)
    return load_student(path), corpus_audio(corpus, 16, WINDOW)


def eager(model: StudentModel, audio: np.ndarray) -> np.ndarray:
    """The loaded student's embeddings of (batch, samples) audio, as numpy."""
    with torch.no_grad():
        return model(torch.from_numpy(audio)).numpy()


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (batch, dim) arrays."""
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def fresh_student(path: Path, frontend: LogMelConfig = LogMelConfig(), window_seconds: float = 4.0,
                  options: dict | None = None, out_dim: int = 512, seed: int = 0, name: str = "mobilenetv3") -> Path:
    """Fresh weights (default: the demo architecture, MobileNetV3 width 0.2) with batch-norm statistics of noise."""
    torch.manual_seed(seed)
    options = {"width": 0.2} if options is None else options
    student = build_student(name, options)
    head = ProjectionHead(student.embed_dim, out_dim, HeadOptions(hidden=(64,)))
    window = int(window_seconds * frontend.sample_rate)
    noise = torch.from_numpy(np.random.default_rng(seed).standard_normal((8, window)).astype(np.float32) * 0.1)
    student.train()
    with torch.no_grad():  # realistic activation scales instead of init-time BN statistics
        student(LogMel(frontend)(noise))
    config = {"student": name, "student_options": options, "head_hidden": [64], "objective": "distill",
              "frontend": dataclasses.asdict(frontend), "window_samples": window, "out_dim": out_dim,
              "embed_dim": student.embed_dim, "classes": None, "teachers": ["fresh"]}
    return save_student(path, student.eval(), head, config, {"params": sum(p.numel() for p in student.parameters())})
