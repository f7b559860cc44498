"""The side-by-side evaluation: teachers, distilled students (own and projected embeddings), supervised and
untrained students of the same architecture, and the log-mel baseline, probed on the same tasks.

On detection tasks, students with frame embeddings embed each clip in one pass; every other row embeds a window
centred on each segment (pipeline/evaluate/segment_embeddings.py), and each distilled student is also probed that
way, as the row `<name>-windows` (detection tasks only), so the report sets one pass against sliding windows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from pipeline.config import DEFAULT_TEACHERS, check
from pipeline.evaluate.benchmark import evaluate_embedder
from pipeline.evaluate.detection import DetectionConfig, load_detection_task
from pipeline.evaluate.embedders import LogMelStats, StudentEmbedder, TeacherEmbedder
from pipeline.evaluate.embeddings import Embedder
from pipeline.evaluate.probes import ProbeConfig
from pipeline.evaluate.fusion import BEST
from pipeline.evaluate.rows import ModelRow
from pipeline.evaluate.segment_embeddings import segment_mode
from pipeline.evaluate.tasks import Task, TaskConfig, demo_tasks, load_task
from pipeline.inference.checkpoint import read_checkpoint
from pipeline.inference.model import StudentModel
from pipeline.students.macs import count_params
from pipeline.students.registry import build_student


@dataclass(frozen=True)
class EvaluateConfig:
    """Settings of the `evaluate` stage (params section `evaluate`)."""

    builtin_tasks: bool = True                  # probe the built-in demo tasks (folder: EvaluatePaths.tasks)
    tasks: tuple[TaskConfig, ...] = ()          # further tasks (ESC-50, US8K, ... on your disk)
    teachers: tuple[str, ...] = DEFAULT_TEACHERS
    teacher_options: dict = field(default_factory=dict)
    students: tuple[str, ...] = ("demo",)       # distilled students (folders under EvaluatePaths.students)
    supervised: tuple[str, ...] = ("demo-supervised",)  # supervised baselines (folders there too)
    untrained: bool = True
    projected: bool = True
    logmel: bool = True
    logmel_mels: int = 128
    window_seconds: float = 2.0
    batch_size: int = 16
    n_folds: int = 5
    untrained_seed: int = 0
    probe: ProbeConfig = ProbeConfig()
    detection: DetectionConfig = DetectionConfig()

    def __post_init__(self):
        check(len(self.teachers) >= 1, "evaluate.teachers", "needs at least one teacher (retention is relative)")
        check(self.window_seconds > 0, "evaluate.window_seconds", "must be > 0")
        check(self.batch_size >= 1, "evaluate.batch_size", "must be >= 1")
        check(self.n_folds >= 2, "evaluate.n_folds", "must be >= 2")
        check(self.builtin_tasks or len(self.tasks) > 0, "evaluate.tasks", "no task to evaluate on")


@dataclass(frozen=True)
class EvaluatePaths:
    """Where the suite reads and caches (from the stage's command line, not params)."""

    students: str            # folder of student folders (<students>/<name>/student.pt)
    embeddings: str          # task-embedding cache (<embeddings>/<task>/<model>-<key>.zarr)
    tasks: str | None = None  # folder of the built-in demo tasks (needed when builtin_tasks is true)


@dataclass
class Candidate:
    """One model to probe, with what the report shows about it."""

    embedder: Embedder
    kind: str
    params: int | None = None
    macs: int | None = None
    teacher: str | None = None
    distilled_from: tuple[str, ...] = ()
    detection_only: bool = False  # probed on detection tasks alone (a student's sliding-window row)


def load_tasks(cfg: EvaluateConfig, paths: EvaluatePaths) -> list[Task]:
    """The built-in demo tasks (if any) followed by the configured ones."""
    if cfg.builtin_tasks and paths.tasks is None:
        raise ValueError("evaluate.builtin_tasks is true but no folder of built-in tasks was given (--tasks)")
    configs = list(demo_tasks(paths.tasks, cfg.n_folds)) if cfg.builtin_tasks else []
    return [load_detection_task(c, cfg.detection.segment_seconds) if c.events else load_task(c)
            for c in configs + list(cfg.tasks)]


class Projected(nn.Module):
    """log-mels -> student embedding -> projection head (the teacher-space output)."""

    def __init__(self, model: StudentModel):
        super().__init__()
        self.backbone, self.head = model.encoder.backbone, model.head
        self.model = model

    def forward(self, logmels: torch.Tensor) -> torch.Tensor:
        return self.model.project_embedding(self.backbone(logmels))  # every teacher's head, side by side

    def frames(self, logmels: torch.Tensor) -> torch.Tensor:
        """(batch, steps, out_dim): the projection of each frame embedding."""
        steps = self.backbone.frames(logmels)  # (batch, steps, embed_dim)
        return self.model.project_embedding(steps.flatten(0, 1)).unflatten(0, steps.shape[:2])


def reference_teacher(cfg: EvaluateConfig, teachers: list[str]) -> str:
    """The row a distilled student's retention is against: its teacher when it had one and that teacher is probed,
    the best teacher per task when it had several and several are probed, else the first teacher probed."""
    if len(teachers) == 1 and teachers[0] in cfg.teachers:
        return teachers[0]
    if len(teachers) > 1 and len(cfg.teachers) > 1:
        return BEST
    return cfg.teachers[0]


def student_candidates(cfg: EvaluateConfig, folder: Path, kind: str, ckpt=None) -> Iterator[Candidate]:
    """A trained student in `folder` (own embedding; projected too for distilled ones); `ckpt`: already read."""
    ckpt, name = ckpt or read_checkpoint(folder), folder.name
    model = StudentModel.from_checkpoint(ckpt)
    params, macs = model.params, ckpt.metrics.get("macs_10s")
    frontend, window = ckpt.config.frontend, ckpt.config.window_samples
    teachers = tuple(model.teachers) if kind == "student" else ()
    ref = reference_teacher(cfg, list(teachers))
    own = StudentEmbedder(name, model.encoder.backbone, frontend, window=window)
    yield Candidate(own, kind, params, macs, ref, teachers)
    if kind == "student" and cfg.detection.sliding_students and own.frame_window is not None:
        sliding = StudentEmbedder(f"{name}-windows", model.encoder.backbone, frontend)  # no window: no frames
        yield Candidate(sliding, "student_windows", params, None, None, teachers, detection_only=True)
    if kind == "student" and cfg.projected:
        proj = StudentEmbedder(f"{name}-projected", Projected(model), frontend, embed_dim=ckpt.config.out_dim,
                               window=window)
        yield Candidate(proj, "student_projected", params, macs, ref)


def untrained_candidate(cfg: EvaluateConfig, folder: Path, teacher: str, ckpt=None) -> Candidate:
    """The architecture of the distilled student in `folder`, with fresh, seeded weights; `ckpt`: already read."""
    ckpt, name = ckpt or read_checkpoint(folder), folder.name
    torch.manual_seed(cfg.untrained_seed)
    net = build_student(ckpt.config.student, ckpt.config.student_options).eval()
    embedder = StudentEmbedder(f"{name}-untrained", net, ckpt.config.frontend, window=ckpt.config.window_samples)
    return Candidate(embedder, "untrained", count_params(net), ckpt.metrics.get("macs_10s"), teacher)


def distilled_candidates(cfg: EvaluateConfig, students: Path) -> Iterator[Candidate]:
    """Each distilled student (and its projection), and one untrained twin per architecture: the students of one
    recipe (a fused student and its single-teacher comparisons) share theirs."""
    architectures = set()
    for name in cfg.students:
        ckpt = read_checkpoint(students / name)  # read once for both rows
        yield from student_candidates(cfg, students / name, "student", ckpt)
        arch = (ckpt.config.student, repr(sorted(ckpt.config.student_options.items())))
        if cfg.untrained and arch not in architectures:
            architectures.add(arch)
            yield untrained_candidate(cfg, students / name, cfg.teachers[0], ckpt)


def candidates(cfg: EvaluateConfig, students: Path, sample_rate: int) -> Iterator[Candidate]:
    """Every model of the comparison, teachers first (built lazily: one model in memory at a time)."""
    from pipeline.teachers.registry import build_teacher  # evaluation, unlike training, may load teachers

    for name in cfg.teachers:
        teacher = build_teacher(name, cfg.teacher_options.get(name, {}))
        params = sum(p.numel() for p in teacher.parameters()) if isinstance(teacher, nn.Module) else None
        yield Candidate(TeacherEmbedder(teacher), "teacher", params, None, None)
    yield from distilled_candidates(cfg, students)
    for name in cfg.supervised:
        yield from student_candidates(cfg, students / name, "supervised")
    if cfg.logmel:
        yield Candidate(LogMelStats(sample_rate, cfg.logmel_mels), "baseline", 0, None, None)


def run_suite(cfg: EvaluateConfig, paths: EvaluatePaths, sample_rate: int, log=print) -> list[ModelRow]:
    """Probe every candidate on every task; returns one report row per model."""
    tasks = load_tasks(cfg, paths)
    detection = [t for t in tasks if t.segments is not None]
    rows = []
    for cand in candidates(cfg, Path(paths.students), sample_rate):
        probed = detection if cand.detection_only else tasks
        if not probed:
            continue
        results, ranks = evaluate_embedder(cand.embedder, probed, cfg.probe, paths.embeddings, cfg.window_seconds,
                                           cfg.batch_size, segment_window_seconds=cfg.detection.window_seconds)
        scores = {task: res.summary() for task, res in results.items()}
        rank = float(np.mean(list(ranks.values()))) if ranks else None
        log(f"evaluate: {cand.embedder.name:<24} " + "  ".join(f"{t}={m * 100:.1f}" for t, (m, _) in scores.items())
            + (f"  rank={rank:.1f}" if rank is not None else ""))
        modes = {t.name: segment_mode(cand.embedder) for t in detection}
        rows.append(ModelRow(cand.embedder.name, cand.kind, scores, cand.params, cand.macs, cand.teacher, rank,
                             cand.distilled_from, {task: res.scores for task, res in results.items()}, ranks, modes))
    return rows
