"""Training a student from cached teacher targets (or from labels, for the supervised baseline).

Reads only the HDF5 corpus, the embedding store(s) and the sampling weights: no teacher is imported here.
One step reads as: log-mels -> augment -> student -> projection head -> loss.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from pipeline import distributed
from pipeline.audio.augment import mixup, spec_augment
from pipeline.audio.logmel import LogMelConfig
from pipeline.config import to_dict
from pipeline.inference.checkpoint import save_student
from pipeline.students.macs import count_macs, count_params
from pipeline.train.checkpoint import save_checkpoint, try_resume
from pipeline.train.config import TrainConfig
from pipeline.train.data import PlanDataset, TrainData, epoch_plan, plan_loader
from pipeline.train.model import head_inputs
from pipeline.train.runtime import Runtime, setup_runtime
from pipeline.train.targets import LabelTargets, NormalisedTargets
from pipeline.train.validate import evaluate_cosine, mean_target_cosine


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up, then linear ramp-down to `final_lr_scale * lr` at the last step."""
    total = cfg.epochs * steps_per_epoch
    warm = int(cfg.warmup_epochs * steps_per_epoch)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    frac = (step - warm) / max(1, total - warm)
    return cfg.lr * (1.0 - (1.0 - cfg.final_lr_scale) * min(frac, 1.0))


def train_step(cfg: TrainConfig, rt: Runtime, logmels: torch.Tensor, targets: torch.Tensor,
               gen: torch.Generator, lr: float) -> float:
    """One optimisation step on (batch, mels, frames) log-mels: augment -> student -> head -> loss -> update."""
    with torch.no_grad():
        x = spec_augment(logmels, cfg.time_masks, cfg.time_width, cfg.freq_masks, cfg.freq_width, gen)
        x, targets, _ = mixup(x, targets, cfg.mixup_alpha, gen)
        targets = rt.model.with_spectrum_targets(x, targets)  # of what the student sees, after augmentation
    for group in rt.optimizer.param_groups:
        group["lr"] = lr
    with distributed.autocast(rt.device, cfg.bf16):
        loss = rt.loss(rt.wrapped(x).float(), targets)
    rt.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    _average_loss_grads(rt.loss, rt.info.world)
    if cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(rt.model.parameters(), cfg.grad_clip)
    rt.optimizer.step()
    return float(loss.detach())


def _average_loss_grads(loss: nn.Module, world: int) -> None:
    """DDP averages only the wrapped model's gradients; a learnable loss (clap temperature) is averaged here."""
    if world <= 1:
        return
    for p in loss.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def plan_batches(cfg: TrainConfig, rt: Runtime, data: TrainData, plan: dict):
    """(log-mels (batch, mels, frames) on the device, plan indices) per step: from the bank, or read and
    transformed batch by batch."""
    if rt.bank is not None:  # keyed by target row (clip targets: the clip row)
        for lo in range(0, len(plan["targets"]) - cfg.batch_size + 1, cfg.batch_size):  # drop_last, as the loader
            idx = np.arange(lo, lo + cfg.batch_size)
            yield rt.bank.get(plan["targets"][idx]).to(rt.device), idx
        return
    loader = plan_loader(cfg, PlanDataset(data.corpus, plan, data.window, data.render), rt.device)
    for waves, idx in loader:
        with torch.no_grad():  # not around the yield: the consumer's step must record gradients
            x = rt.frontend(waves.to(rt.device))
        yield x, idx.numpy()


def run_epoch(cfg: TrainConfig, rt: Runtime, data: TrainData, epoch: int, step: int) -> tuple[float, int, float]:
    """Train one epoch; returns (mean loss, next global step, samples per second)."""
    plan = epoch_plan(cfg, data, epoch, rt.info)
    steps = len(plan["rows"]) // cfg.batch_size
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    rt.model.train()
    rt.model.student.set_epoch(epoch)
    losses, t0 = [], time.perf_counter()
    for x, idx in tqdm(plan_batches(cfg, rt, data, plan), total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                       disable=not rt.info.is_main, mininterval=2.0, leave=False):
        targets = data.targets.get(plan["targets"][idx])
        lr = lr_at(cfg, step, steps)
        losses.append(train_step(cfg, rt, x, targets.to(rt.device), gen, lr))
        step += 1
    seconds = time.perf_counter() - t0
    return float(np.mean(losses)) if losses else float("nan"), step, len(losses) * cfg.batch_size / seconds


def model_card(cfg: TrainConfig, rt: Runtime, frontend_cfg: LogMelConfig, window: int) -> dict:
    """Size figures: parameters (student alone, head) and MACs for a 10 s input."""
    frames = frontend_cfg.frames_for(int(10 * frontend_cfg.sample_rate))
    example = torch.zeros(1, frontend_cfg.n_mels, frames, device=rt.device)
    was_training = rt.model.training
    rt.model.eval()
    macs = count_macs(rt.model.student, example)
    rt.model.train(was_training)
    return {"params": count_params(rt.model.student), "head_params": count_params(rt.model.head),
            "macs_10s": macs, "embed_dim": rt.model.student.embed_dim, "window_samples": window}


def fit(cfg: TrainConfig, data: TrainData, frontend_cfg: LogMelConfig, out_dir: str | Path,
        info: distributed.DistInfo | None = None, log=None, stop_after_epoch: int | None = None) -> dict:
    """Train (resuming an identical interrupted run), validate each epoch, write `student.pt`; returns metrics."""
    info = info or distributed.DistInfo()
    if cfg.epoch_size // info.world < cfg.batch_size:
        raise ValueError(f"train.epoch_size {cfg.epoch_size} over {info.world} ranks is less than one batch "
                         f"of {cfg.batch_size} per rank: an epoch would have no step")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rt = setup_runtime(cfg, data, frontend_cfg, info)
    run_fp = cfg.fingerprint({"frontend": to_dict(frontend_cfg), "world": info.world, **data.meta})
    ckpt = out / "checkpoint.pt"
    start, step, history = try_resume(rt, ckpt, run_fp)
    if start == 0:
        history = [{"epoch": 0, **evaluate_cosine(cfg, rt, data)}]  # the untrained student
    elif info.is_main:
        # flushed so that it shows before the next epoch ends, also when piped (dvc repro, nohup)
        print(f"train: resuming from {ckpt} after epoch {start} of {cfg.epochs}", flush=True)
        if log is not None:  # the live curves start empty: give them back the finished epochs
            for row in history[1:]:
                log(row)
    for epoch in range(start, cfg.epochs):
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)
        loss, step, speed = run_epoch(cfg, rt, data, epoch, step)
        history.append({"epoch": epoch + 1, "train_loss": loss, "samples_per_s": speed,
                        **evaluate_cosine(cfg, rt, data)})
        if info.is_main:
            save_checkpoint(ckpt, rt, epoch, step, run_fp, history)
            if log is not None:
                log(history[-1])
        distributed.barrier()
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            return {"stopped_after_epoch": epoch + 1}
    return finish(cfg, rt, data, frontend_cfg, out, history) if info.is_main else {}


def finish(cfg: TrainConfig, rt: Runtime, data: TrainData, frontend_cfg: LogMelConfig, out: Path,
           history: list) -> dict:
    """Write the final `student.pt` and return the metrics."""
    card = model_card(cfg, rt, frontend_cfg, data.window)
    per_teacher = [f"val_cosine{raw}_{h.name}" for raw in ("", "_raw") for h in data.heads]  # several teachers
    final, first = history[-1], history[0]
    floor = mean_target_cosine(data, cfg.val_max_rows) if cfg.objective == "distill" else None
    metrics = {**card, "val_cosine": final["val_cosine"], "val_cosine_untrained": first["val_cosine"],
               "val_cosine_raw": final.get("val_cosine_raw"), "val_cosine_raw_untrained": first.get("val_cosine_raw"),
               "val_cosine_mean_target": floor, "val_loss": final["val_loss"], "epochs": cfg.epochs,
               "val_rank": final.get("val_rank"), "val_rank_untrained": first.get("val_rank"),
               "val_top_share": final.get("val_top_share"),
               "samples_per_s": float(np.median([h["samples_per_s"] for h in history[1:]])),
               **{k: final.get(k) for k in per_teacher}}
    metrics = {k: finite_or_none(v) for k, v in metrics.items()}  # NaN (no validation rows) is not JSON
    config = {"student": cfg.student, "student_options": cfg.student_options, "head_hidden": list(cfg.head_hidden),
              "head_inputs": head_inputs(cfg, rt.model.student), "objective": cfg.objective,
              "frontend": to_dict(frontend_cfg), "window_samples": data.window,
              "out_dim": data.targets.dim, "embed_dim": card["embed_dim"],
              "classes": data.targets.classes if isinstance(data.targets, LabelTargets) else None, **data.meta}
    save_student(out / "student.pt", rt.model.student, rt.model.head, config, metrics, history,
                 target_norm=target_norm_state(data))
    return metrics


def target_norm_state(data: TrainData) -> dict | None:
    """How training normalised the targets, so `project` answers in each teacher's space: mean and std (out_dim,)
    over every head's columns, and the typical norm: () for one head, (heads,) for one per teacher."""
    parts = data.targets.parts if data.heads else [data.targets]
    if not isinstance(parts[0], NormalisedTargets):
        return None
    norms = [p.norm for p in parts]
    return {"target_mean": torch.cat([p.mean for p in parts]), "target_std": torch.cat([p.std for p in parts]),
            "target_norm": torch.tensor(norms if data.heads else norms[0])}


def finite_or_none(x: float) -> float | None:
    """JSON-friendly float."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x
