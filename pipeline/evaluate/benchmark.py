"""One model over a list of tasks: cached clip (or, for detection tasks, segment) embeddings, then probe scores
per task."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipeline.evaluate.embeddings import Embedder, task_embeddings
from pipeline.evaluate.probes import ProbeConfig, ProbeResult, evaluate_probe
from pipeline.evaluate.rank import effective_rank
from pipeline.evaluate.segment_embeddings import segment_embeddings
from pipeline.evaluate.tasks import Task


def evaluate_embedder(embedder: Embedder, tasks: list[Task], probe: ProbeConfig, cache_dir: str | Path,
                      window_seconds: float, batch_size: int = 16, device: str | torch.device = "cpu",
                      segment_window_seconds: float | None = None
                      ) -> tuple[dict[str, ProbeResult], dict[str, float]]:
    """Task name -> probe scores of `embedder`'s clip (or segment) embeddings (computed once per task and model),
    and task name -> effective rank of those embeddings; `segment_window_seconds`: the centred window of detection
    tasks' sliding-window rows (needed only with detection tasks)."""
    results, ranks = {}, {}
    for task in tasks:
        x = _embeddings(task, embedder, cache_dir, window_seconds, batch_size, device, segment_window_seconds)
        results[task.name] = evaluate_probe(x, task, probe)
        ranks[task.name] = effective_rank(x)
    return results, ranks


def _embeddings(task: Task, embedder: Embedder, cache_dir: str | Path, window_seconds: float, batch_size: int,
                device: str | torch.device, segment_window_seconds: float | None) -> np.ndarray:
    """A task's rows embedded: clip embeddings, or a detection task's segment embeddings."""
    if task.segments is None:
        return task_embeddings(task, embedder, cache_dir, window_seconds, batch_size, device)
    if segment_window_seconds is None:
        raise ValueError(f"task {task.name} is a detection task: give segment_window_seconds")
    return segment_embeddings(task, embedder, cache_dir, segment_window_seconds, batch_size, device)
