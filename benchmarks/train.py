"""Train-stage benchmark: the training step fed from HDF5 vs from memory vs from the log-mel bank, and cached vs
online distillation.

    python -m benchmarks.train [--params params.yaml] [--steps 6] [--warmup 2] [--workers 1] [--threads N]

On the demo corpus and its aisfx store, with the demo's train settings but aisfx's head alone (params.yaml: the
demo student, batch 32, 2 s windows, 128 mels), times each step (median seconds after warm-up) of:
1. the whole step fed by the training DataLoader reading HDF5 (targets gathered from the cached store,
   front-end, student, head, loss, update) vs the same step on batches pre-loaded as tensors (ratio >= 0.9);
2. the step fed from the log-mel bank (`train.cache_logmels`: each fixed example's front-end computed once, no
   DataLoader) on a channels-last student (`train.channels_last`) vs the step fed from the HDF5 loader on a
   contiguous one (the loop before both; target >= 2x). Both students start from the same seed.
3. distillation from the cached targets vs online distillation that runs the aisfx teacher on every batch,
   with the 32 -> 44.1 kHz resampling done in the loader workers (speed-up > 1).
"""
from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import replace
from typing import Callable, Iterator

import numpy as np
import torch

from benchmarks.common import print_measures
from pipeline import distributed
from pipeline.audio.decode import resample
from pipeline.config import parse
from pipeline.corpus import Corpus
from pipeline.train.config import TrainConfig, default_teachers, parse_teachers
from pipeline.train.data import PlanDataset, TrainData, epoch_plan, plan_loader
from pipeline.train.loop import plan_batches, train_step
from pipeline.train.runtime import Runtime, setup_runtime
from stages.params import read_params, section, set_threads
from stages.train import frontend_config, load_data, single_teacher

Batch = tuple[torch.Tensor, torch.Tensor]  # (batch, samples) waveforms, (batch, dim) targets


class TeacherRateDataset(PlanDataset):
    """Plan items plus the same segment resampled to the teacher's rate (in the workers, as `embed` does)."""

    def __init__(self, base: PlanDataset, rate: int):
        super().__init__(base.corpus, base.rows, base.starts, base.window)
        self.rate = rate

    def __getitem__(self, i: int):
        wave, i = super().__getitem__(i)
        return wave, torch.from_numpy(resample(wave.numpy(), self.corpus.sample_rate, self.rate)), i


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so timings are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(feeds: dict[str, Iterator[Batch]], step: Callable[[Batch], None], n: int,
               device: torch.device) -> dict[str, list[float]]:
    """Seconds of each of `n` steps per feed, feeds taking turns step by step so a shared machine's load hits
    them alike; waiting for the batch counts as part of the step."""
    times: dict[str, list[float]] = {name: [] for name in feeds}
    for _ in range(n):
        for name, batches in feeds.items():
            start = time.perf_counter()
            step(next(batches))
            sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def cached_batches(cfg: TrainConfig, data: TrainData, dataset: PlanDataset, targets: np.ndarray,
                   device: torch.device) -> Iterator[Batch]:
    """The training loop's own feed: DataLoader over HDF5, targets gathered from the cached store."""
    for waves, idx in plan_loader(cfg, dataset, device):
        yield waves, data.targets.get(targets[idx.numpy()])


def online_batches(cfg: TrainConfig, dataset: PlanDataset, teacher, device: torch.device) -> Iterator[Batch]:
    """The same feed, but each batch's targets come from running the teacher on it."""
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if (cfg.bf16 and device.type == "cuda") \
        else contextlib.nullcontext()
    for waves, teacher_waves, _ in plan_loader(cfg, TeacherRateDataset(dataset, teacher.sample_rate), device):
        with torch.inference_mode(), autocast:
            targets = teacher.embed(teacher_waves.to(device)).float()  # (batch, dim)
        yield waves, targets.clone()  # out of inference mode, so mixup may use it


def bank_batches(cfg: TrainConfig, rt: Runtime, data: TrainData, plan: dict) -> Iterator[Batch]:
    """The loop's own feed with `train.cache_logmels` (the bank is built with the runtime, not timed)."""
    for x, idx in plan_batches(cfg, rt, data, plan):
        yield x, data.targets.get(plan["targets"][idx])


def measure(cfg: TrainConfig, rt: Runtime, data: TrainData, teacher, steps: int, warmup: int) -> dict[str, float]:
    """Median seconds per step of each feed (HDF5 loader, memory, log-mel bank, online teacher)."""
    n = steps + warmup
    plan = epoch_plan(cfg, data, 0, rt.info)
    dataset = PlanDataset(data.corpus, {k: v[: n * cfg.batch_size] for k, v in plan.items()}, data.window,
                          data.render)
    gen = torch.Generator().manual_seed(0)

    fast_cfg = replace(cfg, cache_logmels=True, channels_last=True)
    fast = setup_runtime(fast_cfg, data, rt.frontend.cfg, rt.info)

    def step(batch: Batch) -> None:  # waveforms through today's loop, or log-mels (3-d) through the fast one
        x = batch[0].to(rt.device)
        if x.dim() == 3:
            train_step(fast_cfg, fast, x, batch[1].to(rt.device), gen, cfg.lr)
            return
        with torch.no_grad():
            x = rt.frontend(x)
        train_step(cfg, rt, x, batch[1].to(rt.device), gen, cfg.lr)

    memory = [(w.to(rt.device), t.to(rt.device))
              for w, t in cached_batches(cfg, data, dataset, plan["targets"], rt.device)]
    loader = cached_batches(cfg, data, dataset, plan["targets"], rt.device)
    feeds = {"loader": loader, "memory": iter(memory), "bank": bank_batches(fast_cfg, fast, data, plan)}
    times = time_steps(feeds, step, n, rt.device)
    online = online_batches(cfg, dataset, teacher.to(rt.device), rt.device)
    times.update(time_steps({"online": online}, step, n, rt.device))  # alone: its workers resample hard
    return {k: float(np.median(v[warmup:])) for k, v in times.items()}


def setup(args: argparse.Namespace) -> tuple[TrainConfig, TrainData, Runtime]:
    """The demo's train settings on the demo corpus and aisfx store (uniform draws: no cluster index needed)."""
    params = read_params(args.params)
    set_threads(params)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = section(params, "train", sampler="uniform", workers=args.workers, device=args.device, epochs=1,
                   cache_logmels=False, channels_last=False)  # today's loop; measure() builds the fast one
    data.update(epoch_size=(args.steps + args.warmup) * int(data.get("batch_size", 32)))
    data.pop("name", None)
    # aisfx's head alone: the online baseline runs that one teacher
    aisfx = single_teacher(data.pop("teachers", default_teachers()), "aisfx")
    cfg, teachers = parse_teachers(aisfx, parse(TrainConfig, data, "train"))
    corpus = Corpus(args.corpus)
    train_data = load_data(cfg, params, teachers, corpus, args.embeddings, None)
    rt = setup_runtime(cfg, train_data, frontend_config(params, corpus.sample_rate), distributed.DistInfo())
    return cfg, train_data, rt


def main() -> None:
    """Run the three feeds and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--corpus", default="cache/corpus/corpus.h5")
    parser.add_argument("--embeddings", default="cache/embeddings", help="the embed stage's pointers (paths.embeddings)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per feed (after warm-up)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader processes")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = params base.num_threads)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    from pipeline.teachers.registry import build_teacher  # only the online baseline loads a teacher

    cfg, data, rt = setup(args)
    med = measure(cfg, rt, data, build_teacher("aisfx", {}), args.steps, args.warmup)
    rate = {k: cfg.batch_size / v for k, v in med.items()}
    rows = [("step fed from HDF5 loader (samples/s)", f"{rate['loader']:.1f}", ""),
            ("step on in-memory tensors (samples/s)", f"{rate['memory']:.1f}", ""),
            ("loader / memory", f"{rate['loader'] / rate['memory']:.3f}", ">= 0.9"),
            ("step fed from the log-mel bank, channels-last student (samples/s)", f"{rate['bank']:.1f}", ""),
            ("bank + channels-last / loader", f"{rate['bank'] / rate['loader']:.2f}x", ">= 2"),
            ("online distillation, aisfx each step (samples/s)", f"{rate['online']:.1f}", ""),
            ("cached / online speed-up", f"{rate['loader'] / rate['online']:.2f}x", "> 1")]
    print(f"train benchmark: {cfg.student} {cfg.student_options}, batch {cfg.batch_size}, "
          f"{data.window / data.corpus.sample_rate:g} s windows, {len(data.corpus)} clips, device {rt.device}, "
          f"{torch.get_num_threads()} torch threads, workers {cfg.workers}, median of {args.steps} steps "
          f"after {args.warmup} warm-up")
    print_measures(rows, 10)


if __name__ == "__main__":
    main()
