"""Run `fit` in its own process from a JSON spec (for kill/resume and torchrun DDP tests).

Usage: python train_run.py SPEC.json   (or under `python -m torch.distributed.run ... train_run.py SPEC.json`)
Spec keys: corpus (corpus.h5), stores (store folders with store.json), teachers (optional: a `train.teachers`
value naming those stores), out, config (TrainConfig fields), frontend (LogMelConfig fields), window (samples). Each rank also writes `<out>/plan-rank<r>.npz` (epoch 0 plan).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from pipeline import distributed
from pipeline.audio.logmel import LogMelConfig
from pipeline.config import parse
from pipeline.corpus import Corpus
from pipeline.store import open_current
from pipeline.train.config import TrainConfig, parse_teachers
from pipeline.train.data import distill_data, epoch_plan
from pipeline.train.loop import fit


def main(spec_path: str) -> None:
    """Build the data named by the spec and train (joining a process group under torchrun)."""
    torch.set_num_threads(1)
    spec = json.loads(open(spec_path).read())
    cfg = parse(TrainConfig, spec["config"], "train")
    corpus = Corpus(spec["corpus"])
    stores = [open_current(s, corpus.fingerprint) for s in spec["stores"]]
    teachers = parse_teachers(spec["teachers"], cfg)[1] if spec.get("teachers") else ()
    data = distill_data(cfg, corpus, stores, spec["window"], None, None, teachers)
    info = distributed.discover()
    distributed.init(info, torch.device("cpu"))
    Path(spec["out"]).mkdir(parents=True, exist_ok=True)
    plan = epoch_plan(cfg, data, 0, info)
    np.savez(f"{spec['out']}/plan-rank{info.rank}.npz", **plan)
    try:
        fit(cfg, data, parse(LogMelConfig, spec["frontend"], "frontend"), spec["out"], info)
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
