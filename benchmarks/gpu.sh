#!/usr/bin/env bash
# GPU throughput of the three GPU-bound parts of the pipeline, on one device; no installs, a few minutes at most.
#
#   benchmarks/gpu.sh            # needs a GPU (nvidia-smi); writes $OUT/gpu.json when OUT is set
#   benchmarks/gpu.sh --cpu      # tiny sizes on the CPU: a smoke check that the script runs end to end
#
# Measures: the aisfx teacher forward (windows/s, fp32 and bf16 autocast); the whole embed stage
# (`pipeline.embed.extract`, device cuda) on a generated corpus, against that forward; training steps of
# MobileNetV3 width 1.0 at batch 64 (samples/s, fp32, bf16, bf16 + torch.compile) through `pipeline.train`.
# A part whose modules are missing on the machine is reported as skipped, not fatal.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=gpu
if [[ "${1:-}" == "--cpu" ]]; then
    MODE=cpu
elif ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu.sh: no GPU found by nvidia-smi; run with --cpu for a smoke check" >&2
    exit 2
fi
PY=${PYTHON:-}
if [[ -z "$PY" ]]; then
    PY=python3
    [[ -x .venv/bin/python ]] && PY=.venv/bin/python
fi
if [[ "$MODE" == gpu ]]; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; fi
exec timeout 470 "$PY" - "$MODE" <<'PYTHON'
import json, os, platform, sys, tempfile, time, traceback
from pathlib import Path
from types import SimpleNamespace

import torch

MODE = sys.argv[1]
GPU = MODE == "gpu"
DEVICE = torch.device("cuda" if GPU else "cpu")
DEADLINE = time.monotonic() + 440  # leave time to print and write before the outer timeout
# (windows per teacher batch, teacher window s, timed batches, corpus clips, clip s, train batch, train clip s, steps)
SIZES = dict(tb=64, tw=10.0, tn=20, clips=512, clip_s=10.0, b=64, ts=10.0, steps=30) if GPU else \
    dict(tb=2, tw=1.0, tn=2, clips=4, clip_s=1.0, b=4, ts=1.0, steps=2)
results, rows = {"mode": MODE, "sizes": SIZES}, []


def sync():
    if GPU:
        torch.cuda.synchronize()


def timed(fn, n, warmup=2):
    """Seconds per call of fn(), median-free mean over n calls after warm-up (GPU work synchronised)."""
    for _ in range(warmup):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return (time.perf_counter() - start) / n


def part(name):
    """Run a measurement; a missing module or an error is recorded, never fatal."""
    def wrap(fn):
        if time.monotonic() > DEADLINE - 30:
            results[name] = {"skipped": "out of time"}
            return fn
        try:
            results[name] = fn()
        except ImportError as exc:
            results[name] = {"skipped": f"missing module: {exc}"}
        except Exception as exc:  # report and go on: the other parts still tell something
            results[name] = {"failed": f"{type(exc).__name__}: {exc}"}
            traceback.print_exc()
        return fn
    return wrap


def autocast(bf16):
    return torch.autocast(DEVICE.type, dtype=torch.bfloat16) if bf16 else torch.autocast(DEVICE.type, enabled=False)


@part("teacher")
def teacher():
    from pipeline.teachers.registry import build_teacher
    t = build_teacher("aisfx", {}).to(DEVICE)
    x = 0.1 * torch.randn(SIZES["tb"], int(SIZES["tw"] * t.sample_rate), device=DEVICE)
    out = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        with torch.inference_mode(), autocast(bf16):
            out[f"{name}_windows_per_s"] = SIZES["tb"] / timed(lambda: t.embed(x), SIZES["tn"])
        rows.append((f"aisfx forward {name}, {SIZES['tw']:g} s windows, batch {SIZES['tb']}",
                     out[f"{name}_windows_per_s"], "windows/s"))
    return out


@part("embed")
def embed():
    import numpy as np
    from pipeline.corpus import Corpus, CorpusWriter
    from pipeline.embed import EmbedConfig, extract
    from pipeline.teachers.registry import build_teacher
    with tempfile.TemporaryDirectory() as tmp:
        writer, rng = CorpusWriter(f"{tmp}/corpus.h5", 32000), np.random.default_rng(0)
        for i in range(SIZES["clips"]):
            t = np.arange(int(SIZES["clip_s"] * 32000)) / 32000
            wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) + 0.05 * rng.standard_normal(len(t))
            writer.append(f"c{i}", wave.astype(np.float32))
        writer.close()
        cfg = EmbedConfig(teacher="aisfx", window_seconds=SIZES["clip_s"], hop_seconds=SIZES["clip_s"],
                          batch_size=SIZES["tb"], workers=min(8, (os.cpu_count() or 2) - 1) if GPU else 0,
                          device=DEVICE.type, bf16=True, chunk_rows=64, shard_rows=256)
        start = time.perf_counter()
        result = extract(cfg, build_teacher("aisfx", {}), Corpus(f"{tmp}/corpus.h5"), f"{tmp}/emb")
        sync()
        wall = time.perf_counter() - start
    rate = result.report.get("windows", SIZES["clips"]) / wall
    rows.append((f"embed stage (extract, bf16, {cfg.workers} workers), {SIZES['clips']} clips", rate, "windows/s"))
    out = {"windows_per_s": rate, "wall_s": wall, "workers": cfg.workers}
    forward = (results.get("teacher") or {}).get("bf16_windows_per_s")
    if forward:
        out["stage_over_forward"] = rate / forward
        rows.append(("embed stage / bf16 forward (includes store creation)", rate / forward, "ratio"))
    return out


@part("train")
def train():
    from pipeline import distributed
    from pipeline.audio.logmel import LogMelConfig
    from pipeline.train import TrainConfig, setup_runtime, train_step
    out = {}
    waves = 0.1 * torch.randn(SIZES["b"], int(SIZES["ts"] * 32000), device=DEVICE)
    targets = torch.randn(SIZES["b"], 512, device=DEVICE)
    gen = torch.Generator().manual_seed(0)
    for name, bf16, compiled in (("fp32", False, False), ("bf16", True, False), ("bf16_compile", True, True)):
        if time.monotonic() > DEADLINE - 60:
            out[name] = "skipped: out of time"
            continue
        cfg = TrainConfig(student_options={"width": 1.0}, batch_size=SIZES["b"], epoch_size=SIZES["b"], workers=0,
                          device=DEVICE.type, bf16=bf16, compile=compiled)
        rt = setup_runtime(cfg, SimpleNamespace(targets=SimpleNamespace(dim=512)), LogMelConfig(),
                           distributed.DistInfo())
        step = lambda: train_step(cfg, rt, waves, targets, gen, cfg.lr)  # noqa: E731
        start = time.perf_counter()
        step()  # compiles when asked; not timed as a step
        first = time.perf_counter() - start
        out[f"{name}_samples_per_s"] = SIZES["b"] / timed(step, SIZES["steps"])
        out[f"{name}_first_step_s"] = first
        rows.append((f"train step MobileNetV3 w1.0 {name}, batch {SIZES['b']}, {SIZES['ts']:g} s",
                     out[f"{name}_samples_per_s"], "samples/s"))
    return out


device_name = torch.cuda.get_device_name(0) if GPU else platform.processor() or "cpu"
results.update(device=device_name, torch=torch.__version__, date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
print(f"\ngpu.sh ({MODE}): {device_name}, torch {torch.__version__}")
width = max([len(r[0]) for r in rows] + [10])
print(f"{'measure'.ljust(width)}  {'value':>10}  unit")
for name, value, unit in rows:
    print(f"{name.ljust(width)}  {value:>10.1f}  {unit}" if unit != "ratio" else f"{name.ljust(width)}  {value:>10.3f}")
for name in ("teacher", "embed", "train"):
    extra = {k: v for k, v in results.get(name, {}).items() if k in ("skipped", "failed")}
    if extra:
        print(f"{name}: {extra}")
if os.environ.get("OUT"):
    Path(os.environ["OUT"]).mkdir(parents=True, exist_ok=True)
    Path(os.environ["OUT"], "gpu.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {os.environ['OUT']}/gpu.json")
PYTHON
