"""`torch.compile` of the training step on CPU against eager: does `train.compile` pay on a small machine?

    python -m benchmarks.compile [--steps 12] [--threads 1] [--batch 32]

The default student of params.yaml with its heads and loss (one head per default teacher, random targets of the
teachers' widths), channels-last as the loop runs it, fed log-mels as the log-mel bank feeds them: the same step
twice, one model wrapped in `torch.compile` (inductor, C++ code generated for this CPU), the other eager, taking
turns step by step after two warm-up steps. Prints the compile time (the first compiled step) and the median
samples/s of both.
"""
from __future__ import annotations

import time

import torch

from benchmarks.common import machine, print_measures, step_args
from benchmarks.frontend import timed_turns
from pipeline.train.config import TrainConfig, parse_teachers
from pipeline.train.model import build_models, build_objective, make_optimizer
from stages.params import read_params

TEACHER_DIMS = {"aisfx": 512, "resemblyzer": 256}  # widths of the default teachers' store rows


def step_fn(params: dict, batch: int, compiled: bool):
    """A closure running one training step of the default recipe on a fixed random batch."""
    base = TrainConfig()
    cfg, heads = parse_teachers(params["train"]["teachers"], base)
    dims = [TEACHER_DIMS[h.name] for h in heads]
    model = build_models(cfg, sum(dims), 0, dims, params["frontend"]["n_mels"]).to(memory_format=torch.channels_last)
    loss = build_objective(cfg, heads, dims)
    opt = make_optimizer(cfg, [*model.parameters(), *loss.parameters()])
    frames = int(params["audio"]["window_seconds"] * 1000 / params["frontend"]["hop_ms"]) + 1
    logmels = torch.randn(batch, params["frontend"]["n_mels"], frames)
    targets = torch.randn(batch, sum(dims))
    forward = torch.compile(model) if compiled else model

    def step() -> None:
        value = loss(forward(logmels), targets)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    return step


def main() -> None:
    args = step_args(__doc__.splitlines()[0])
    params = read_params("params.yaml")
    eager, compiled = (step_fn(params, args.batch, c) for c in (False, True))
    start = time.perf_counter()
    compiled()
    compile_s = time.perf_counter() - start
    medians = timed_turns({"eager": eager, "compiled": compiled}, args.steps)
    print(f"machine: {machine()}, threads {args.threads}, batch {args.batch}")
    print_measures([("compile + first step (s)", f"{compile_s:.1f}", "-"),
                    ("eager samples/s", f"{args.batch / medians['eager']:.1f}", "-"),
                    ("compiled samples/s", f"{args.batch / medians['compiled']:.1f}", "-"),
                    ("compiled / eager", f"{medians['eager'] / medians['compiled']:.2f}", "> 1 to pay")])


if __name__ == "__main__":
    main()
