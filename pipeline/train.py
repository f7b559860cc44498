"""Training a student from cached teacher targets (or from labels, for the supervised baseline).

Reads only the HDF5 corpus, the embedding store(s) and the sampling weights: no teacher is imported here.
One step reads as: waveforms -> log-mel front-end -> augment -> student -> projection head -> loss.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pipeline import distributed
from pipeline.atomic import atomic_path
from pipeline.audio.augment import mixup, spec_augment
from pipeline.audio.logmel import LogMel, LogMelConfig
from pipeline.config import check, to_dict
from pipeline.corpus import Corpus
from pipeline.evaluate.rank import effective_rank, top_share
from pipeline.losses.registry import build_loss, loss_options
from pipeline.sampling import epoch_draws, rank_slice, window_rows
from pipeline.students.head import HeadOptions, ProjectionHead
from pipeline.students.macs import count_macs, count_params
from pipeline.students.pretrained import init_student
from pipeline.students.registry import build_student, student_options
from pipeline.targets import block_order
from pipeline.train_bank import LogMelBank, bank_bytes, build_bank


@dataclass(frozen=True)
class TrainConfig:
    """Settings of the `train` stage (params section `train`)."""

    objective: Literal["distill", "supervised"] = "distill"
    student: str = "mobilenetv3"
    student_options: dict = field(default_factory=dict)
    init: str | None = None  # backbone checkpoint the student starts from (student.pt, checkpoint.pt, EfficientAT)
    head_hidden: tuple[int, ...] = (512,)
    loss: str = "cosine"
    loss_options: dict = field(default_factory=dict)
    target: Literal["clip", "window"] = "clip"
    target_norm: Literal["none", "center", "standardize"] = "center"
    sampler: Literal["balanced", "uniform"] = "balanced"
    label_column: str = "labels"
    epochs: int = 10
    epoch_size: int = 2048
    batch_size: int = 32
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    final_lr_scale: float = 0.05
    grad_clip: float = 5.0
    mixup_alpha: float = 0.3
    time_masks: int = 2
    time_width: int = 20
    freq_masks: int = 2
    freq_width: int = 16
    val_fraction: float = 0.1
    val_max_rows: int = 512
    seed: int = 0
    workers: int = 1
    device: str = "auto"
    bf16: bool = True
    compile: bool = False
    memory_budget_gb: float = 2.0
    block_chunks: int = 8
    cache_logmels: bool = False  # compute each fixed example's log-mel once (needs fixed windows; see train_bank)
    channels_last: bool = False  # channels-last convolutions (1.7x faster steps on a CPU core, measured)

    def __post_init__(self):
        student_options(self.student, self.student_options, "train.student_options")
        loss_options(self.loss, self.loss_options, "train.loss_options")
        for name in ("epochs", "epoch_size", "batch_size"):
            check(getattr(self, name) >= 1, f"train.{name}", f"must be >= 1, got {getattr(self, name)}")
        check(self.epoch_size >= self.batch_size, "train.epoch_size",
              f"must be >= batch_size ({self.batch_size}), or an epoch has no step")
        check(self.lr > 0, "train.lr", f"must be > 0, got {self.lr}")
        check(0 <= self.final_lr_scale <= 1, "train.final_lr_scale", "must be in [0, 1]")
        check(0 <= self.val_fraction < 1, "train.val_fraction", "must be in [0, 1)")
        check(self.warmup_epochs >= 0, "train.warmup_epochs", "must be >= 0")
        check(self.grad_clip >= 0, "train.grad_clip", "must be >= 0 (0 = off)")
        check(self.mixup_alpha >= 0, "train.mixup_alpha", "must be >= 0 (0 = off)")
        check(self.workers >= 0, "train.workers", "must be >= 0")
        check(self.block_chunks >= 1, "train.block_chunks", f"must be >= 1, got {self.block_chunks}")
        check(self.memory_budget_gb >= 0, "train.memory_budget_gb", "must be >= 0")
        check(self.init is None or bool(self.init.strip()), "train.init", "must be a checkpoint path or null")

    def fingerprint(self, extra: dict) -> str:
        """Hash of everything that changes the training run (resume only continues an identical run)."""
        blob = json.dumps({"cfg": to_dict(self), "extra": extra}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class TrainData:
    """Everything the loop reads, aligned by corpus row (targets may be window-level)."""

    corpus: Corpus
    window: int                       # samples per training example at the corpus rate
    targets: object                   # RamTargets | ChunkTargets | LabelTargets: .get(rows) -> (batch, out_dim)
    weights: np.ndarray               # (n_clips,) sampling weights, 0 on validation and invalid rows
    val_rows: np.ndarray              # corpus rows held out for validation
    window_clip: np.ndarray | None = None   # (n_windows,) for window-level targets
    window_start: np.ndarray | None = None  # (n_windows,) start sample of each window
    meta: dict = field(default_factory=dict)  # fingerprints recorded in the checkpoint


class LabelTargets:
    """Multi-hot label targets for the supervised baseline (labels split on ';' or ',')."""

    def __init__(self, labels: list[str]):
        tokens = [[t.strip() for t in str(s).replace(",", ";").split(";") if t.strip()] for s in labels]
        self.classes = sorted({t for ts in tokens for t in ts})
        if not self.classes:
            raise ValueError("supervised objective: the label column is empty for every row")
        pos = {c: i for i, c in enumerate(self.classes)}
        table = np.zeros((len(labels), len(self.classes)), dtype=np.float32)
        for i, ts in enumerate(tokens):
            table[i, [pos[t] for t in ts]] = 1.0
        self.table = torch.from_numpy(table)
        self.valid = table.sum(axis=1) > 0
        self.chunk_rows = 0

    @property
    def dim(self) -> int:
        return len(self.classes)

    def get(self, rows: np.ndarray) -> torch.Tensor:
        return self.table[torch.as_tensor(rows, dtype=torch.long)]


def validation_rows(manifest, fraction: float) -> np.ndarray:
    """Rows marked split=valid/val/validation; otherwise a stable hash-based `fraction` of clip ids."""
    split = manifest["split"].astype(str).str.lower() if "split" in manifest else None
    if split is not None and split.isin(["valid", "val", "validation"]).any():
        return np.flatnonzero(split.isin(["valid", "val", "validation"]).to_numpy())
    h = np.array([int(hashlib.md5(c.encode()).hexdigest()[:8], 16) for c in manifest["clip_id"]])
    return np.flatnonzero(h % 10_000 < fraction * 10_000)


class Distiller(nn.Module):
    """Student plus projection head; the head maps into the teacher's space (or onto label logits)."""

    def __init__(self, student: nn.Module, head: nn.Module):
        super().__init__()
        self.student, self.head = student, head

    def forward(self, logmels: torch.Tensor) -> torch.Tensor:
        return self.head(self.student.embed(logmels))


class PlanDataset(Dataset):
    """Item i -> (segment of `window` samples at (rows[i], starts[i]), i); reads run in DataLoader workers."""

    def __init__(self, corpus: Corpus, rows: np.ndarray, starts: np.ndarray, window: int):
        self.corpus, self.rows, self.starts, self.window = corpus, rows, starts, window

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        return torch.from_numpy(self.corpus.segment(int(self.rows[i]), int(self.starts[i]), self.window)), i


def epoch_plan(cfg: TrainConfig, data: TrainData, epoch: int, info: distributed.DistInfo) -> dict:
    """This rank's examples for one epoch: corpus rows, crop starts and target rows."""
    draws = rank_slice(epoch_draws(data.weights, cfg.epoch_size, cfg.seed, epoch), info.rank, info.world)
    rng = np.random.default_rng([cfg.seed, epoch, 2])
    if data.window_clip is not None:
        usable = np.flatnonzero(data.targets.valid)  # windows with a finite teacher output
        target_rows = usable[window_rows(draws, data.window_clip[usable], cfg.seed, epoch)]
        target_rows = block_order(target_rows, data.targets.chunk_rows, cfg.block_chunks, rng)
        return {"rows": data.window_clip[target_rows], "starts": data.window_start[target_rows],
                "targets": target_rows}
    draws = block_order(draws, data.targets.chunk_rows, cfg.block_chunks, rng)
    spare = np.maximum(data.corpus.lengths[draws] - data.window, 0)
    starts = (rng.random(len(draws)) * (spare + 1)).astype(np.int64)  # random crop of long clips
    return {"rows": draws, "starts": starts, "targets": draws}


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up, then linear ramp-down to `final_lr_scale * lr` at the last step."""
    total = cfg.epochs * steps_per_epoch
    warm = int(cfg.warmup_epochs * steps_per_epoch)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    frac = (step - warm) / max(1, total - warm)
    return cfg.lr * (1.0 - (1.0 - cfg.final_lr_scale) * min(frac, 1.0))


def build_models(cfg: TrainConfig, out_dim: int, seed: int) -> Distiller:
    """Student + head, initialised from `seed`; the student's backbone then from `cfg.init` when set."""
    torch.manual_seed(seed)
    student = build_student(cfg.student, cfg.student_options)
    if cfg.init is not None:  # draws no random numbers: the head's initialisation is the same either way
        init_student(student, cfg.init, "train.init")
    head = ProjectionHead(student.embed_dim, out_dim, HeadOptions(hidden=cfg.head_hidden))
    return Distiller(student, head)


def build_objective(cfg: TrainConfig) -> nn.Module:
    """The distillation loss by name, or BCE-with-logits for the supervised baseline."""
    if cfg.objective == "supervised":
        return nn.BCEWithLogitsLoss()
    return build_loss(cfg.loss, cfg.loss_options)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay), Adam, or SGD with momentum 0.9."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    adam = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


@dataclass
class Runtime:
    """The live objects of a run."""

    model: Distiller
    wrapped: nn.Module
    frontend: LogMel
    loss: nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    info: distributed.DistInfo
    bank: LogMelBank | None = None  # precomputed log-mels of the fixed examples (train.cache_logmels)


def train_step(cfg: TrainConfig, rt: Runtime, logmels: torch.Tensor, targets: torch.Tensor,
               gen: torch.Generator, lr: float) -> float:
    """One optimisation step on (batch, mels, frames) log-mels: augment -> student -> head -> loss -> update."""
    with torch.no_grad():
        x = spec_augment(logmels, cfg.time_masks, cfg.time_width, cfg.freq_masks, cfg.freq_width, gen)
        x, targets, _ = mixup(x, targets, cfg.mixup_alpha, gen)
    for group in rt.optimizer.param_groups:
        group["lr"] = lr
    with _autocast(rt.device, cfg.bf16):
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


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def plan_loader(cfg: TrainConfig, dataset: Dataset, device: torch.device) -> DataLoader:
    """Batches of a plan in order (the plan is already shuffled), read ahead by `cfg.workers` processes."""
    return DataLoader(dataset, batch_size=cfg.batch_size, shuffle=False, drop_last=True, num_workers=cfg.workers,
                      pin_memory=device.type == "cuda", prefetch_factor=4 if cfg.workers else None)


def plan_batches(cfg: TrainConfig, rt: Runtime, data: TrainData, plan: dict):
    """(log-mels (batch, mels, frames) on the device, plan indices) per step: from the bank, or read and
    transformed batch by batch."""
    if rt.bank is not None:  # keyed by target row (clip targets: the clip row)
        for lo in range(0, len(plan["targets"]) - cfg.batch_size + 1, cfg.batch_size):  # drop_last, as the loader
            idx = np.arange(lo, lo + cfg.batch_size)
            yield rt.bank.get(plan["targets"][idx]).to(rt.device), idx
        return
    loader = plan_loader(cfg, PlanDataset(data.corpus, plan["rows"], plan["starts"], data.window), rt.device)
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
        if hasattr(data.targets, "denormalise"):  # the same prediction, scored in the teacher's own space
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
    targets = getattr(data.targets, "raw", data.targets)  # scored in the teacher's own space
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


def checkpoint_state(rt: Runtime, epoch: int, step: int, run_fp: str, history: list) -> dict:
    """Everything needed for an exact resume at an epoch boundary (tensors and plain values only)."""
    return {"model": rt.model.state_dict(), "loss": rt.loss.state_dict(), "optimizer": rt.optimizer.state_dict(),
            "epoch": epoch,
            "step": step, "run_fingerprint": run_fp, "torch_rng": torch.get_rng_state(),
            "history": json.dumps(history)}


def save_atomic(obj: dict, path: Path) -> None:
    """torch.save whole or not at all: a kill, a full disk or a read-only folder keeps the previous file."""
    # through a Python file: a full disk raises OSError(ENOSPC) rather than torch's opaque "unexpected pos"
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def try_resume(rt: Runtime, path: Path, run_fp: str) -> tuple[int, int, list]:
    """Load the last checkpoint if it belongs to this exact run; returns (next epoch, step, history)."""
    if not path.exists():
        return 0, 0, []
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("run_fingerprint") != run_fp:
        warnings.warn(f"{path} belongs to another run (fingerprint {state.get('run_fingerprint')}, this run is "
                      f"{run_fp}: other settings, data or teacher); it is not resumed, training starts over")
        return 0, 0, []
    rt.model.load_state_dict(state["model"])
    rt.loss.load_state_dict(state["loss"])  # a learnable temperature is trained state too
    rt.optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["epoch"]) + 1, int(state["step"]), json.loads(state["history"])


def setup_runtime(cfg: TrainConfig, data: TrainData, frontend_cfg: LogMelConfig,
                  info: distributed.DistInfo) -> Runtime:
    """Models, front-end, loss and optimiser on the chosen device (DDP-wrapped when world > 1)."""
    device = distributed.pick_device(cfg.device)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    model = build_models(cfg, data.targets.dim, cfg.seed).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss = build_objective(cfg).to(device)
    params = list(model.parameters()) + list(loss.parameters())
    wrapped: nn.Module = model
    if info.world > 1:
        wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        wrapped = torch.compile(wrapped)
    frontend = LogMel(frontend_cfg)
    bank = logmel_bank(cfg, data, frontend) if cfg.cache_logmels else None
    return Runtime(model, wrapped, frontend.to(device), loss, make_optimizer(cfg, params), device, info, bank)


def bank_examples(data: TrainData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys = target rows, clip rows, starts) of every fixed example training or validation may draw."""
    clips = np.union1d(np.flatnonzero(data.weights > 0), data.val_rows)
    if data.window_clip is None:
        return clips, clips, np.zeros(len(clips), dtype=np.int64)
    keys = np.flatnonzero(np.isin(data.window_clip, clips) & data.targets.valid)
    return keys, data.window_clip[keys], data.window_start[keys]


def logmel_bank(cfg: TrainConfig, data: TrainData, frontend: LogMel) -> LogMelBank:
    """The log-mel bank of this run's examples; refuses random crops and banks over the memory budget."""
    keys, rows, starts = bank_examples(data)
    if data.window_clip is None and (data.corpus.lengths[rows] > data.window).any():
        raise ValueError("train.cache_logmels: clips longer than audio.window_seconds are cropped at random with "
                         "train.target=clip, so their log-mels are not fixed; use train.target=window")
    need = bank_bytes(len(keys), frontend, data.window)
    if need > cfg.memory_budget_gb * (1 << 30):
        raise ValueError(f"train.cache_logmels: {len(keys)} examples need {need / (1 << 30):.2f} GB, over "
                         f"train.memory_budget_gb={cfg.memory_budget_gb}")
    return build_bank(data.corpus, keys, rows, starts, data.window, frontend)


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
            save_atomic(checkpoint_state(rt, epoch, step, run_fp, history), ckpt)
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
    final, first = history[-1], history[0]
    floor = mean_target_cosine(data, cfg.val_max_rows) if cfg.objective == "distill" else None
    metrics = {**card, "val_cosine": final["val_cosine"], "val_cosine_untrained": first["val_cosine"],
               "val_cosine_raw": final.get("val_cosine_raw"), "val_cosine_raw_untrained": first.get("val_cosine_raw"),
               "val_cosine_mean_target": floor, "val_loss": final["val_loss"], "epochs": cfg.epochs,
               "val_rank": final.get("val_rank"), "val_rank_untrained": first.get("val_rank"),
               "val_top_share": final.get("val_top_share"),
               "samples_per_s": float(np.median([h["samples_per_s"] for h in history[1:]]))}
    metrics = {k: finite_or_none(v) for k, v in metrics.items()}  # NaN (no validation rows) is not JSON
    payload = {"student": rt.model.student.state_dict(), "head": rt.model.head.state_dict(),
               "config": json.dumps({"student": cfg.student, "student_options": cfg.student_options,
                                     "head_hidden": list(cfg.head_hidden), "objective": cfg.objective,
                                     "frontend": to_dict(frontend_cfg), "window_samples": data.window,
                                     "out_dim": data.targets.dim, "embed_dim": card["embed_dim"],
                                     "classes": getattr(data.targets, "classes", None), **data.meta}),
               "metrics": json.dumps(metrics), "history": json.dumps(history)}
    if hasattr(data.targets, "denormalise"):  # lets `project` answer in the teacher's space
        payload.update(target_mean=data.targets.mean.clone(), target_std=data.targets.std.clone(),
                       target_norm=torch.tensor(data.targets.norm))
    save_atomic(payload, out / "student.pt")
    return metrics


def finite_or_none(x: float) -> float | None:
    """JSON-friendly float."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x
