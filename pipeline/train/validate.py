"""Per-epoch validation: projected-student vs teacher cosine, loss and the embedding's effective rank."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pipeline.evaluate.rank import effective_rank, top_share
from pipeline.train.config import TrainConfig
from pipeline.train.data import TrainData
from pipeline.train.model import teacher_objective
from pipeline.train.runtime import Runtime
from pipeline.train.targets import NormalisedTargets, Targets


def teacher_parts(data: TrainData) -> list[tuple[str | None, float, Targets]]:
    """(teacher name, loss weight, its targets) per head, in output column order; (None, 1, all) for one head."""
    if not data.heads:
        return [(None, 1.0, data.targets)]
    return [(h.name, h.weight, part) for h, part in zip(data.heads, data.targets.parts)]


def weighted(values: list[float], parts: list) -> float:
    """Sum of per-teacher `values` weighted as the loss weights them (one head: the value itself)."""
    return sum(w * v for (_, w, _), v in zip(parts, values))


@torch.no_grad()
def evaluate_cosine(cfg: TrainConfig, rt: Runtime, data: TrainData) -> dict:
    """Mean cosine of projected student vs teacher target on validation rows (loss too, for supervised).

    With several teachers: `val_cosine_<teacher>` (and `val_cosine_raw_<teacher>`) per head, and `val_cosine`
    their mean weighted by the loss weights.
    """
    rows = data.val_rows[: cfg.val_max_rows]
    if len(rows) == 0:
        return {"val_cosine": float("nan"), "val_loss": float("nan")}
    rt.model.eval()
    parts = teacher_parts(data)
    dims = [p.dim for _, _, p in parts]
    cos, raw_cos, loss, embeddings = [[] for _ in parts], [[] for _ in parts], [], []
    for lo in range(0, len(rows), cfg.batch_size):
        batch = rows[lo: lo + cfg.batch_size]
        starts, target_rows = _val_items(data, batch)
        emb = rt.model.student.embed(_val_logmels(rt, data, batch, starts, target_rows))  # (batch, embed_dim)
        embeddings.append(emb.float().cpu().numpy())
        out = rt.model.head(emb).float()  # (batch, sum of teacher dims)
        target = data.targets.get(target_rows).to(rt.device)
        loss.append(float(teacher_objective(rt.loss)(out, target)) * len(batch))
        for t, ((_, _, part), o, y) in enumerate(zip(parts, out.split(dims, 1), target.split(dims, 1))):
            cos[t].append(nn.functional.cosine_similarity(o, y, dim=1).cpu())
            if isinstance(part, NormalisedTargets):  # the same prediction, scored in the teacher's own space
                raw = part.raw.get(target_rows).to(rt.device)
                raw_cos[t].append(nn.functional.cosine_similarity(part.denormalise(o), raw, dim=1).cpu())
    emb = np.concatenate(embeddings)  # (rows, embed_dim): the backbone's own embedding, where collapse shows
    per_teacher = {"val_cosine": [float(torch.cat(c).mean()) for c in cos]}
    if raw_cos[0]:
        per_teacher["val_cosine_raw"] = [float(torch.cat(c).mean()) for c in raw_cos]
    result = {"val_cosine": weighted(per_teacher["val_cosine"], parts), "val_loss": sum(loss) / len(rows),
              "val_rank": effective_rank(emb), "val_top_share": top_share(emb)}
    if "val_cosine_raw" in per_teacher:
        result["val_cosine_raw"] = weighted(per_teacher["val_cosine_raw"], parts)
    if data.heads:
        result.update({f"{key}_{name}": v for key, values in per_teacher.items()
                       for (name, _, _), v in zip(parts, values)})
    return result


def _val_logmels(rt: Runtime, data: TrainData, rows: np.ndarray, starts: np.ndarray,
                 target_rows: np.ndarray) -> torch.Tensor:
    """(batch, mels, frames) log-mels of validation examples, from the bank when it holds them."""
    if rt.bank is not None:
        return rt.bank.get(target_rows).to(rt.device)
    waves = torch.stack([torch.from_numpy(data.corpus.segment(int(r), int(s), data.window))
                         for r, s in zip(rows, starts)])  # (batch, samples)
    return rt.frontend(waves.to(rt.device))


def mean_target_cosine(data: TrainData, max_rows: int | None = None, sample: int = 4096, seed: int = 0) -> float:
    """Cosine to the validation targets of a constant prediction: the mean training target (a floor to beat).

    Scored on the same validation rows as `evaluate_cosine` (the first `max_rows`).
    """
    train_rows = np.flatnonzero(data.weights > 0)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(train_rows, size=min(sample, len(train_rows)), replace=False))
    parts, values = teacher_parts(data), []
    for _, _, part in parts:  # several teachers: the loss-weighted mean of each teacher's floor
        targets = part.raw if isinstance(part, NormalisedTargets) else part  # teacher space
        mean = targets.get(_val_items(data, rows)[1]).mean(dim=0, keepdim=True)  # (1, dim)
        val = targets.get(_val_items(data, data.val_rows[:max_rows])[1])
        values.append(float(nn.functional.cosine_similarity(val, mean.expand_as(val), dim=1).mean()))
    return weighted(values, parts)


def _val_items(data: TrainData, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(crop starts, target rows) scored for clip rows: the clip target from the clip's start, or the clip's
    first window with a finite teacher output."""
    if data.window_clip is None:
        return np.zeros(len(rows), dtype=np.int64), rows
    usable = np.flatnonzero(data.targets.valid)
    target_rows = usable[np.searchsorted(data.window_clip[usable], rows, side="left")]
    return data.window_start[target_rows], target_rows
