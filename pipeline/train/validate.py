"""Per-epoch validation: projected-student vs teacher cosine, loss and the embedding's effective rank."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pipeline.evaluate.rank import effective_rank, top_share
from pipeline.train.config import TrainConfig
from pipeline.train.data import TrainData
from pipeline.train.runtime import Runtime
from pipeline.train.targets import NormalisedTargets


@torch.no_grad()
def evaluate_cosine(cfg: TrainConfig, rt: Runtime, data: TrainData) -> dict:
    """Mean cosine of projected student vs teacher target on validation rows (loss too, for supervised)."""
    rows = data.val_rows[: cfg.val_max_rows]
    if len(rows) == 0:
        return {"val_cosine": float("nan"), "val_loss": float("nan")}
    rt.model.eval()
    cos, loss, raw_cos, embeddings = [], [], [], []
    for lo in range(0, len(rows), cfg.batch_size):
        batch = rows[lo: lo + cfg.batch_size]
        starts, target_rows = _val_items(data, batch)
        emb = rt.model.student.embed(_val_logmels(rt, data, batch, starts, target_rows))  # (batch, embed_dim)
        embeddings.append(emb.float().cpu().numpy())
        out = rt.model.head(emb).float()
        target = data.targets.get(target_rows).to(rt.device)
        cos.append(nn.functional.cosine_similarity(out, target, dim=1).cpu())
        loss.append(float(rt.loss(out, target)) * len(batch))
        if isinstance(data.targets, NormalisedTargets):  # the same prediction, scored in the teacher's own space
            raw = data.targets.raw.get(target_rows).to(rt.device)
            raw_cos.append(nn.functional.cosine_similarity(data.targets.denormalise(out), raw, dim=1).cpu())
    emb = np.concatenate(embeddings)  # (rows, embed_dim): the backbone's own embedding, where collapse shows
    result = {"val_cosine": float(torch.cat(cos).mean()), "val_loss": sum(loss) / len(rows),
              "val_rank": effective_rank(emb), "val_top_share": top_share(emb)}
    if raw_cos:
        result["val_cosine_raw"] = float(torch.cat(raw_cos).mean())
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
    targets = data.targets.raw if isinstance(data.targets, NormalisedTargets) else data.targets  # teacher space
    train_rows = np.flatnonzero(data.weights > 0)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(train_rows, size=min(sample, len(train_rows)), replace=False))
    mean = targets.get(_val_items(data, rows)[1]).mean(dim=0, keepdim=True)  # (1, dim)
    val = targets.get(_val_items(data, data.val_rows[:max_rows])[1])
    return float(nn.functional.cosine_similarity(val, mean.expand_as(val), dim=1).mean())


def _val_items(data: TrainData, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(crop starts, target rows) scored for clip rows: the clip target from the clip's start, or the clip's
    first window with a finite teacher output."""
    if data.window_clip is None:
        return np.zeros(len(rows), dtype=np.int64), rows
    usable = np.flatnonzero(data.targets.valid)
    target_rows = usable[np.searchsorted(data.window_clip[usable], rows, side="left")]
    return data.window_start[target_rows], target_rows
