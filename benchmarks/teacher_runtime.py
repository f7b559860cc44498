"""The aisfx teacher's network under other runtimes, against eager PyTorch, on the embed stage's block batches.

    python -m benchmarks.teacher_runtime [--threads 1] [--rounds 5] [--blocks 48]

The embed stage already keeps the teacher busy (BENCHMARKS figure 1), so its floor is the teacher's own forward:
aisfx's EmbeddingNet over (blocks, 100 frames, 96 mels) log-mel blocks. Each runtime gets the same random blocks
(a batch of 16 two-second windows cuts 48 of them): the package's network in eager PyTorch; the same with every
batch norm folded into its convolution and channels-last memory (what the teacher runs since this benchmark);
TorchScript frozen and optimised for inference (oneDNN); and the ONNX export under onnxruntime. Rounds take turns
(eager, then each runtime) so that load from other jobs falls on all alike; the medians of blocks per second and
their ratio to eager are printed, with each runtime's largest difference from eager against the float16 rounding of
the stored targets (half a unit in the last place of the largest output).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from pipeline.teachers.aisfx import BLOCK, checkpoint_path, fold_batch_norms, load_embedding_state, package_net
from pipeline.teachers.aisfx_frontend import N_MELS


def folded_channels_last(net: nn.Module) -> nn.Module:
    """A copy with its batch norms folded, weights and activations channels-last (what the teacher runs)."""
    return fold_batch_norms(copy.deepcopy(net)).to(memory_format=torch.channels_last)


def torchscript(net: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """Traced, frozen and optimised for inference."""
    traced = torch.jit.trace(copy.deepcopy(net).eval(), example)
    return torch.jit.optimize_for_inference(torch.jit.freeze(traced))


def onnxruntime_session(net: nn.Module, example: torch.Tensor, folder: Path,
                        threads: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Exported with a dynamic batch axis, run by onnxruntime's CPU provider with `threads` intra-op threads."""
    import onnxruntime as ort

    path = folder / "aisfx.onnx"
    torch.onnx.export(copy.deepcopy(net).eval(), (example,), str(path), input_names=["blocks"],
                      output_names=["embedding"], dynamic_axes={"blocks": {0: "n"}}, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"blocks": x.numpy()})[0])


def timed(fn: Callable[[torch.Tensor], torch.Tensor], blocks: torch.Tensor) -> tuple[float, torch.Tensor]:
    """(blocks per second, output) of one call."""
    start = time.perf_counter()
    with torch.inference_mode():
        out = fn(blocks)
    return len(blocks) / (time.perf_counter() - start), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=48, help="blocks per call (16 two-second windows: 48)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = package_net(load_embedding_state(checkpoint_path()))  # the package's network as it ships
    blocks = torch.randn(args.blocks, BLOCK, N_MELS, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        runtimes = {"eager": net, "folded + channels-last": folded_channels_last(net),
                    "TorchScript frozen": torchscript(net, blocks),
                    "onnxruntime": onnxruntime_session(net, blocks, Path(folder), args.threads)}
        reference = net(blocks)
        ulp = float(np.spacing(np.float16(reference.abs().max().item()))) / 2
        for fn in runtimes.values():  # warm-up: first-call allocations and graph optimisation
            fn(blocks)
        speeds = {name: [] for name in runtimes}
        errors = {name: 0.0 for name in runtimes}
        for _ in range(args.rounds):
            for name, fn in runtimes.items():
                speed, out = timed(fn, blocks)
                speeds[name].append(speed)
                errors[name] = max(errors[name], float((out.float() - reference).abs().max()))
    base = statistics.median(speeds["eager"])
    print(f"aisfx EmbeddingNet, {args.blocks} blocks of {BLOCK} x {N_MELS}, {args.threads} thread(s), "
          f"median of {args.rounds} rounds; float16 half-ulp at the largest output {ulp:.2g}")
    print("| runtime | blocks/s | vs eager | largest difference from eager |")
    print("|---|---:|---:|---:|")
    for name in runtimes:
        speed = statistics.median(speeds[name])
        print(f"| {name} | {speed:.1f} | {speed / base:.2f}x | {errors[name]:.2g} |")


if __name__ == "__main__":
    main()
