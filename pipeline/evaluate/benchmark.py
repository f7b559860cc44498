"""One model over a list of tasks: cached clip embeddings, then probe scores per task."""
from __future__ import annotations

from pathlib import Path

import torch

from pipeline.evaluate.embeddings import Embedder, task_embeddings
from pipeline.evaluate.probes import ProbeConfig, ProbeResult, evaluate_probe
from pipeline.evaluate.rank import effective_rank
from pipeline.evaluate.tasks import Task


def evaluate_embedder(embedder: Embedder, tasks: list[Task], probe: ProbeConfig, cache_dir: str | Path,
                      window_seconds: float, batch_size: int = 16,
                      device: str | torch.device = "cpu") -> tuple[dict[str, ProbeResult], dict[str, float]]:
    """Task name -> probe scores of `embedder`'s clip embeddings (computed once per task and model), and
    task name -> effective rank of those embeddings."""
    results, ranks = {}, {}
    for task in tasks:
        x = task_embeddings(task, embedder, cache_dir, window_seconds, batch_size, device)
        results[task.name] = evaluate_probe(x, task, probe)
        ranks[task.name] = effective_rank(x)
    return results, ranks
