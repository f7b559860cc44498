"""The front-end's power spectrum: the old reduction over the real/imaginary axis against `pair_power`, alone and
inside a training step of the demo student.

    python -m benchmarks.frontend [--steps 12] [--threads 1]

Both forms run in one process, taking turns step by step, on the same batch (32 windows of 2 s at 32 kHz, the demo's
train batch): the power spectrum alone, then a whole distillation step (front-end without gradients, the default
student of params.yaml, a linear head, cosine loss, AdamW). Prints medians after two warm-up steps and checks that
both forms give the same floats.
"""
from __future__ import annotations

import statistics
import time

import torch

from benchmarks.common import machine, print_measures, step_args
from pipeline.audio import logmel
from pipeline.audio.logmel import LogMel
from pipeline.students.registry import build_student
from pipeline.train.config import TrainConfig
from stages.params import audio_config, read_params
from stages.train import frontend_config


def reduction(spec: torch.Tensor) -> torch.Tensor:
    """The form the front-end used before `pair_power`."""
    return spec.pow(2).sum(-1)


FORMS = {"reduction": reduction, "pair_power": logmel.pair_power}


def step_fn(params: dict, batch: int):
    """A closure running one distillation step of the default student on a fixed random batch."""
    cfg = TrainConfig()
    torch.manual_seed(0)
    student = build_student(cfg.student, dict(cfg.student_options))
    audio = audio_config(params)
    front = LogMel(frontend_config(params, audio.sample_rate))
    x = 0.1 * torch.randn(batch, int(audio.window_seconds * audio.sample_rate))
    head = torch.nn.Linear(student(front(x[:1])).shape[1], 512)
    target = torch.randn(batch, 512)
    opt = torch.optim.AdamW([*student.parameters(), *head.parameters()], 1e-3)

    def step() -> None:
        with torch.no_grad():
            mel = front(x)
        loss = 1 - torch.nn.functional.cosine_similarity(head(student(mel)), target).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, front, x


def timed_turns(fns: dict, steps: int) -> dict[str, float]:
    """Median seconds of each named call, the calls taking turns, after two warm-up rounds."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(steps + 2):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t[2:]) for name, t in times.items()}


def with_form(form, fn):
    """`fn` run with the front-end's power spectrum computed by `form`."""
    def run():
        logmel.pair_power, saved = form, logmel.pair_power
        try:
            fn()
        finally:
            logmel.pair_power = saved
    return run


def main() -> None:
    args = step_args(__doc__.splitlines()[0])
    step, front, x = step_fn(read_params("params.yaml"), args.batch)
    spec = torch.view_as_real(torch.stft(x, front.n_fft, hop_length=front.hop_length, window=front.window,
                                         center=True, pad_mode="constant", return_complex=True))
    same = torch.equal(reduction(spec), logmel.pair_power(spec))
    power = timed_turns({name: (lambda f=f: f(spec)) for name, f in FORMS.items()}, args.steps)
    steps = timed_turns({name: with_form(f, step) for name, f in FORMS.items()}, args.steps)
    print(f"machine: {machine()}")
    print_measures([("power spectrum, reduction (ms)", f"{1000 * power['reduction']:.1f}", ""),
                    ("power spectrum, pair_power (ms)", f"{1000 * power['pair_power']:.1f}", ""),
                    ("train step, reduction (samples/s)", f"{args.batch / steps['reduction']:.1f}", ""),
                    ("train step, pair_power (samples/s)", f"{args.batch / steps['pair_power']:.1f}", ""),
                    ("step speed-up", f"{steps['reduction'] / steps['pair_power']:.2f}x", ">= 1"),
                    ("same floats", str(same), "True")])


if __name__ == "__main__":
    main()
