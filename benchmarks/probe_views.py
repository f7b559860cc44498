"""What a linear probe makes of a student's embedding: its parts, its statistics swapped, fewer training rows.

    python -m benchmarks.probe_views STUDENT [--params params.yaml] [--tasks pitch spoken_word_noise]
                                     [--fractions 0.35 0.6 1.0] [--untrained]

A student with `summary_bands` embeds its learnt channels followed by the log-mel statistics of its input; on the
tasks where log-mel statistics beat it, the question is whether the learnt channels add noise to a probe fitted on
a few hundred clips, or whether the student's statistics (taken over the frames above the silence floor) know less
than the baseline's (taken over the frames of the real samples). Every view is probed on the built-in tasks with
evaluate's own probe, folds and seeds, from the task embeddings `evaluate` cached (no forward pass when the student
and the log-mel baseline were evaluated before), and paired by fold:

- `learnt` and `summary`: each part alone;
- `learnt + baseline statistics`: the student's learnt channels beside the baseline's statistics instead of its own;
- `learnt + clip statistics`: beside statistics taken over the whole clip's frames above its silence floor (the
  student's rule, but over the clip instead of averaged over its windows; the baseline's rule where no frame is
  digital silence);
- with `--fractions`: student minus log-mel statistics when each training fold keeps only that share of its rows
  (drawn per seed and fold, the same rows for both): a gap that closes as rows grow is a small-probe effect.

`--untrained` takes the student's untrained twin (evaluate's seeded random weights) instead of the student.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import torch

from pipeline.config import parse
from pipeline.audio.logmel import band_statistics
from pipeline.evaluate.embedders import LogMelStats, real_frames
from pipeline.evaluate.embeddings import task_embeddings
from pipeline.evaluate.probes import ProbeConfig, evaluate_probe, probe_fold
from pipeline.evaluate.splits import task_splits
from pipeline.evaluate.stats import mean_ci
from pipeline.evaluate.suite import EvaluateConfig, EvaluatePaths, load_tasks, student_candidates, untrained_candidate
from pipeline.evaluate.tasks import Task
from pipeline.students.pooling import SILENCE_TOLERANCE, learnt_columns
from stages.params import audio_config, read_params


class ClipStats(LogMelStats):
    """Log-mel statistics over a clip's real frames above its silence floor (the summary's rule, clip-wide)."""

    def __init__(self, sample_rate: int, n_mels: int):
        super().__init__(sample_rate, n_mels, name="logmel-live")
        self.fingerprint = hashlib.sha256(f"live-frames-v1 {self.fingerprint}".encode()).hexdigest()[:16]

    def embed_batch(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Mean and std of each band over the frames of real samples whose loudest band clears the floor."""
        mel = self.frontend(waveforms)  # (batch, mels, frames)
        real = real_frames(lengths, self.frontend.hop_length, mel.shape[-1])[:, None, :]  # (batch, 1, frames)
        floor = torch.where(real, mel, torch.full_like(mel, float("inf"))).amin(dim=(1, 2), keepdim=True)
        live = real & (mel.amax(dim=1, keepdim=True) > floor + SILENCE_TOLERANCE)
        live = torch.where(live.sum(dim=-1, keepdim=True) > 0, live, real)
        return band_statistics(mel, live.float())


def fold_scores(x: np.ndarray, task: Task, cfg: ProbeConfig, fraction: float = 1.0) -> np.ndarray:
    """(seeds * folds,) probe scores of `x`; each training fold cut to `fraction` of its rows (seeded per fold)."""
    if fraction >= 1.0:
        return evaluate_probe(x, task, cfg).scores.ravel()  # evaluate's own scores (seed-major, as below)
    x, scores = x.astype(np.float64), []
    for seed in cfg.seeds:
        for fold, (train, test) in enumerate(task_splits(task, seed)):
            rng = np.random.default_rng([seed, fold])
            train = np.sort(rng.choice(train, max(2, int(round(fraction * len(train)))), replace=False))
            scores.append(probe_fold(x, task, train, test, cfg, seed))
    return np.asarray(scores)


def paired(a: np.ndarray, b: np.ndarray) -> str:
    """'mean ± CI' of a - b in points."""
    mean, ci = mean_ci(a - b)
    return f"{100 * mean:+.1f} ± {100 * ci:.1f}"


def views(student: np.ndarray, baseline: np.ndarray, learnt: int, clip: np.ndarray) -> dict[str, np.ndarray]:
    """The student's embedding, its two parts, and its learnt part beside the baseline's or the clip statistics."""
    return {"student": student, "learnt": student[:, :learnt], "summary": student[:, learnt:],
            "learnt + baseline statistics": np.hstack([student[:, :learnt], baseline]),
            "learnt + clip statistics": np.hstack([student[:, :learnt], clip])}


def student_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every probe benchmark of one student takes: STUDENT, --params, --tasks."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("student")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--tasks", nargs="*", default=None, help="task names (default: every clip task)")
    return parser


def probe_setup(params_file: str, student: str) -> tuple[dict, EvaluateConfig, EvaluatePaths]:
    """The params, evaluate's settings narrowed to `student`, and evaluate's folders (its embedding cache too)."""
    params = read_params(params_file)
    paths = params["paths"]
    cfg = parse(EvaluateConfig, dict(params.get("evaluate") or {}, students=[student],
                                     window_seconds=audio_config(params).window_seconds), "evaluate")
    return params, cfg, EvaluatePaths(students=paths["students"], embeddings=paths["eval_embeddings"],
                                      tasks=paths["tasks"])


def main() -> None:
    parser = student_parser(__doc__.splitlines()[0])
    parser.add_argument("--fractions", nargs="*", type=float, default=[])
    parser.add_argument("--untrained", action="store_true", help="probe the student's untrained twin instead")
    args = parser.parse_args()
    params, cfg, where = probe_setup(args.params, args.student)
    sample_rate = audio_config(params).sample_rate
    folder = Path(where.students) / args.student
    own = untrained_candidate(cfg, folder, cfg.teachers[0]).embedder if args.untrained else \
        next(student_candidates(cfg, folder, "student")).embedder
    bands = own.student.summary_bands
    if not bands:
        raise SystemExit(f"{args.student}: no summary_bands in its embedding; nothing to split")
    learnt = learnt_columns(own.student)
    baseline = LogMelStats(sample_rate, cfg.logmel_mels)  # the report's baseline (its cached embeddings)
    clip_stats = ClipStats(sample_rate, bands)
    tasks = [t for t in load_tasks(cfg, where) if t.segments is None and (not args.tasks or t.name in args.tasks)]
    for task in tasks:
        x, base, clip = (task_embeddings(task, e, where.embeddings, cfg.window_seconds, cfg.batch_size)
                         for e in (own, baseline, clip_stats))
        scores = {name: fold_scores(v, task, cfg.probe) for name, v in views(x, base, learnt, clip).items()}
        ref = fold_scores(base, task, cfg.probe)
        print(f"{task.name}: log-mel statistics {100 * ref.mean():.1f}; " + "; ".join(
            f"{name} {100 * s.mean():.1f} (vs log-mel {paired(s, ref)}, vs student {paired(s, scores['student'])})"
            for name, s in scores.items()), flush=True)
        for fraction in args.fractions:
            s, r = fold_scores(x, task, cfg.probe, fraction), fold_scores(base, task, cfg.probe, fraction)
            print(f"{task.name}: {fraction:.0%} of the training rows: student {100 * s.mean():.1f}, log-mel "
                  f"{100 * r.mean():.1f}, student - log-mel {paired(s, r)}", flush=True)


if __name__ == "__main__":
    main()
