"""`checkpoint.pt`: the exact state of an interrupted run, saved each epoch and resumed only by the same run."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from pipeline.inference.checkpoint import save_atomic
from pipeline.train.runtime import Runtime


def checkpoint_state(rt: Runtime, epoch: int, step: int, run_fp: str, history: list) -> dict:
    """Everything needed for an exact resume at an epoch boundary (tensors and plain values only)."""
    return {"model": rt.model.state_dict(), "loss": rt.loss.state_dict(), "optimizer": rt.optimizer.state_dict(),
            "epoch": epoch,
            "step": step, "run_fingerprint": run_fp, "torch_rng": torch.get_rng_state(),
            "history": json.dumps(history)}


def save_checkpoint(path: Path, rt: Runtime, epoch: int, step: int, run_fp: str, history: list) -> None:
    """Write `checkpoint.pt` atomically after an epoch."""
    save_atomic(checkpoint_state(rt, epoch, step, run_fp, history), path)


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
