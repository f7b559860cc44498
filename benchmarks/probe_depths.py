"""What each depth of a student's network keeps of a task: every block's map pooled and probed on its own.

    python -m benchmarks.probe_depths STUDENT [--params params.yaml] [--tasks pitch spoken_word_noise]
                                      [--depths 2 4 7 10 13 16] [--keep-frequency]

The clip embedding pools the last feature map over frequency and time, so whatever a task needs from *where* in
frequency the energy lies (the harmonics of a note, the formants of a word) survives only as far as the channels
encode it. This probe takes the output of each listed layer of the backbone's `features` stack (index 0 is the
stem) and pools it as the embedding does (mean over frequency, then mean and std over time), or with
`--keep-frequency` over time only (one mean per channel and frequency bin), for the trained student and for its
untrained twin (evaluate's seeded random weights), and probes each layer alone with evaluate's probe, folds and
seeds, beside log-mel statistics. The layer embeddings are cached like evaluate's (a clip's windows averaged).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmarks.probe_views import probe_setup, student_parser
from pipeline.evaluate.embedders import LogMelStats, StudentEmbedder
from pipeline.evaluate.embeddings import task_embeddings
from pipeline.evaluate.probes import evaluate_probe
from pipeline.evaluate.suite import load_tasks, student_candidates, untrained_candidate
from stages.params import audio_config

DEPTHS = (2, 4, 7, 10, 13, 16)


def layer_stack(student: nn.Module) -> nn.Sequential:
    """The backbone's sequential `features` stack (MobileNetV3 and DyMN have one)."""
    stack = getattr(student, "features", None)
    if not isinstance(stack, nn.Sequential):
        raise SystemExit(f"{type(student).__name__} has no sequential `features` stack to probe by depth")
    return stack


def pool_map(x: torch.Tensor, keep_frequency: bool) -> torch.Tensor:
    """(batch, channels, freq, time) -> (batch, channels * freq) time means, or (batch, 2 * channels): the
    frequency mean's mean and std over time (the embedding's meanstd rule)."""
    if keep_frequency:
        return x.mean(dim=-1).flatten(1)
    over_time = x.mean(dim=2)
    return torch.cat([over_time.mean(dim=-1), over_time.std(dim=-1, unbiased=False)], dim=1)


def depth_features(stack: nn.Sequential, logmels: torch.Tensor, depths: tuple[int, ...],
                   keep_frequency: bool) -> list[torch.Tensor]:
    """Pooled outputs of the layers of `stack` at `depths` for (batch, n_mels, frames) log-mels, in depth order."""
    if not depths or min(depths) < 0 or max(depths) >= len(stack):
        raise ValueError(f"depths must lie in [0, {len(stack) - 1}], got {list(depths)}")
    x, out = logmels.unsqueeze(1), []
    for i, layer in enumerate(stack[: max(depths) + 1]):
        x = layer(x)
        if i in depths:
            out.append(pool_map(x, keep_frequency))
    return out


class DepthEmbedder:
    """An evaluate Embedder whose row is the pooled outputs of several layers side by side (`widths` apart)."""

    def __init__(self, own: StudentEmbedder, depths: tuple[int, ...], keep_frequency: bool):
        self.own, self.depths, self.keep_frequency = own, tuple(sorted(depths)), keep_frequency
        self.stack = layer_stack(own.student)
        self.name, self.sample_rate = f"{own.name}-depths", own.sample_rate
        key = f"depths-v1 {own.fingerprint} {self.depths} {keep_frequency}"
        self.fingerprint = hashlib.sha256(key.encode()).hexdigest()[:16]
        with torch.no_grad():
            probe = torch.zeros(1, own.frontend.cfg.n_mels, 200)
            self.widths = [f.shape[1] for f in depth_features(self.stack, probe, self.depths, keep_frequency)]
        self.embed_dim = sum(self.widths)

    @torch.no_grad()
    def embed_batch(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> (batch, sum of the layers' widths)."""
        return torch.cat(depth_features(self.stack, self.own.frontend(waveforms), self.depths, self.keep_frequency),
                         dim=1)

    def split(self, x: np.ndarray) -> dict[int, np.ndarray]:
        """Columns of each depth."""
        edges = np.cumsum([0, *self.widths])
        return {d: x[:, a:b] for d, a, b in zip(self.depths, edges[:-1], edges[1:])}


def main() -> None:
    parser = student_parser(__doc__.splitlines()[0])
    parser.add_argument("--depths", nargs="*", type=int, default=list(DEPTHS))
    parser.add_argument("--keep-frequency", action="store_true", help="pool over time only")
    args = parser.parse_args()
    params, cfg, where = probe_setup(args.params, args.student)
    folder = Path(where.students) / args.student
    models = {"trained": next(student_candidates(cfg, folder, "student")).embedder,
              "untrained": untrained_candidate(cfg, folder, cfg.teachers[0]).embedder}
    baseline = LogMelStats(audio_config(params).sample_rate, cfg.logmel_mels)
    tasks = [t for t in load_tasks(cfg, where) if t.segments is None and (not args.tasks or t.name in args.tasks)]
    pooled = "time means per frequency bin" if args.keep_frequency else "mean and std over time"
    print(f"| task | weights | log-mel statistics | " + " | ".join(f"layer {d}" for d in sorted(args.depths)) + " |")
    print("|---|---|---|" + "---|" * len(args.depths))
    for task in tasks:
        ref = evaluate_probe(task_embeddings(task, baseline, where.embeddings, cfg.window_seconds, cfg.batch_size),
                             task, cfg.probe).scores.mean()
        for kind, own in models.items():
            depth = DepthEmbedder(own, tuple(args.depths), args.keep_frequency)
            x = task_embeddings(task, depth, where.embeddings, cfg.window_seconds, cfg.batch_size)
            cells = [f"{100 * evaluate_probe(v, task, cfg.probe).scores.mean():.1f} ({v.shape[1]})"
                     for v in depth.split(x).values()]
            print(f"| {task.name} | {kind} | {100 * ref:.1f} | " + " | ".join(cells) + " |", flush=True)
    print(f"\nEach layer pooled by {pooled}; its width in brackets.")


if __name__ == "__main__":
    main()
