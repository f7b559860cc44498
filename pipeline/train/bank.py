"""Log-mels of fixed training examples, computed once before training instead of at every step.

When every example is a fixed (clip, start) window — window-level targets, or clip targets whose clips all fit in
one window — the front-end's output does not change from epoch to epoch, so each example's log-mel is computed
once and held in RAM as float16 (batch reads become a gather; no DataLoader, no STFT in the loop).
"""
from __future__ import annotations

import numpy as np
import torch

from pipeline.audio.logmel import LogMel
from pipeline.train.config import TrainConfig
from pipeline.train.data import TrainData


class LogMelBank:
    """Example key -> (n_mels, frames) log-mel; keys are target rows (window rows, or clip rows for clip targets)."""

    def __init__(self, keys: np.ndarray, table: torch.Tensor):
        self.slot = {int(k): i for i, k in enumerate(keys)}
        self.table = table  # (examples, n_mels, frames) float16

    def get(self, keys: np.ndarray) -> torch.Tensor:
        """(batch, n_mels, frames) float32 log-mels of `keys`."""
        try:
            idx = [self.slot[int(k)] for k in keys]
        except KeyError as exc:
            raise KeyError(f"log-mel bank: example {exc.args[0]} was not computed") from None
        return self.table[torch.as_tensor(idx, dtype=torch.long)].float()


def bank_bytes(n_examples: int, frontend: LogMel, window: int) -> int:
    """RAM a bank of `n_examples` float16 log-mels of `window` samples needs."""
    return n_examples * frontend.cfg.n_mels * frontend.frames_for(window) * 2


@torch.no_grad()
def build_bank(read, keys: np.ndarray, frontend: LogMel, batch: int = 64) -> LogMelBank:
    """Compute the log-mel of `read(i)` (the waveform of keys[i]) for every key, on the CPU."""
    frontend = frontend.cpu()
    parts = []
    for lo in range(0, len(keys), batch):
        waves = np.stack([read(i) for i in range(lo, min(lo + batch, len(keys)))])  # (batch, samples)
        parts.append(frontend(torch.from_numpy(waves)).to(torch.float16))
    return LogMelBank(np.asarray(keys), torch.cat(parts) if parts else torch.zeros(0, frontend.cfg.n_mels, 0))


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
    if data.render is not None:  # window-level: plain windows and views by target row
        return build_bank(lambda i: data.render(int(keys[i])), keys, frontend)
    return build_bank(lambda i: data.corpus.segment(int(rows[i]), int(starts[i]), data.window), keys, frontend)
