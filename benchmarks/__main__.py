"""Every benchmark in one process, one summary table: `python -m benchmarks all [--skip-e2e]`.

    python -m benchmarks all [--skip-e2e | --run-e2e] [--clips 32] [--cluster-rows 4000] ...
    python -m benchmarks embed|cluster|train|latency|e2e

Runs the measurements of benchmarks/embed.py, cluster.py, train.py and latency.py at small, quick sizes on a
working corpus (clips spread over the demo corpus, or synthetic ones when there is none) and prints one table:
figure, measured value, target, met / not met. `all` writes benchmarks/results.json (figures, date, machine).
The end-to-end figures (wall time of the demo `dvc repro` from scratch in a temporary copy of the project with the
real demo params, ~15 min or more, and of the no-op repro after it) come from benchmarks/e2e.json when it exists
(written by `python -m benchmarks e2e`); `all` runs them when it does not, unless --skip-e2e; --run-e2e re-runs them.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.common import ROOT, Figure, machine, save_results, table, work_corpus
from pipeline import stage_profile
from pipeline.corpus import Corpus
from pipeline.store import EmbeddingStore, StoreError, open_current

E2E_FILE = ROOT / "benchmarks" / "e2e.json"
RESULTS_FILE = ROOT / "benchmarks" / "results.json"


@dataclass
class Workspace:
    """The temporary folder, the working corpus and (once embedded) its aisfx store, shared by the benchmarks."""

    folder: Path
    corpus: Corpus
    origin: str
    store: EmbeddingStore | None = None


def bench_embed(args: argparse.Namespace, ws: Workspace) -> list[Figure]:
    """Figures 1 and 2: the embed stage against the bare teacher, store size, target reads."""
    from benchmarks import embed

    out = embed.run(ws.corpus.path, ws.folder / "embed", window_seconds=args.window_seconds, workers=args.workers,
                    repeats=args.repeats)
    ws.store = out["store"]
    size = f"aisfx, {out['windows']} windows of {args.window_seconds:g} s, best of {args.repeats}"
    disk_over_raw, where = out["disk_over_raw"], f"the benchmark's {out['windows']}-window store (metadata-heavy)"
    try:  # a tiny store is mostly metadata: the demo's own store, when built, is the honest measure
        demo = open_current(str(ROOT / "cache" / "embeddings" / "aisfx"))
        disk, raw = embed.size_ratio(demo)
        disk_over_raw, where = disk / raw, f"the demo store ({demo.layout.n_windows:,} windows, {disk / 1e6:.1f} MB)"
    except StoreError:
        pass
    return [Figure("1. embed stage / pure forward (wall)", out["stage_over_teacher_wall"], ">=", 0.9, note=size),
            Figure("1. embed stage / pure forward (CPU time)", out["stage_over_teacher_cpu"], ">=", 0.9),
            Figure("2. store size / raw float32", disk_over_raw, "<=", 0.55, note=where),
            Figure("2. clip target reads vs one file per clip", out["targets_speedup"]["clip"], ">=", 10, "x"),
            Figure("2. window target reads vs one file per window", out["targets_speedup"]["window"], ">=", 10, "x")]


def bench_cluster(args: argparse.Namespace, ws: Workspace) -> list[Figure]:
    """Figure 3: peak RSS of clustering 16x the rows over 1x (each in a fresh process)."""
    from benchmarks import cluster

    sizes, runs = (args.cluster_rows, 16 * args.cluster_rows), []
    for n in sizes:
        url = str(ws.folder / f"cluster-store-{n}")
        cluster.synthetic_store(url, n, args.cluster_dim, centres=50)
        runs.append(cluster.measure(url, 50, 1, str(ws.folder / f"cluster-out-{n}")))
        shutil.rmtree(url)
    mb = 1 << 20
    note = (f"{sizes[0]:,} vs {sizes[1]:,} rows x {args.cluster_dim}, k=50: peak {runs[0]['peak'] / mb:.0f} -> "
            f"{runs[1]['peak'] / mb:.0f} MB, wall {runs[0]['wall']:.1f} -> {runs[1]['wall']:.1f} s")
    return [Figure("3. cluster peak RSS, 16x rows / 1x", runs[1]["peak"] / runs[0]["peak"], "<=", 1.5, note=note)]


def ensure_store(args: argparse.Namespace, ws: Workspace) -> EmbeddingStore:
    """The working corpus's aisfx store (embedded now when the embed benchmark did not run first)."""
    if ws.store is None:
        from pipeline.embed import EmbedConfig, extract
        from pipeline.teachers.registry import build_teacher

        cfg = EmbedConfig(teacher="aisfx", window_seconds=args.window_seconds, hop_seconds=args.window_seconds,
                          workers=args.workers)
        ws.store = EmbeddingStore.open(extract(cfg, build_teacher("aisfx", {}), ws.corpus,
                                               str(ws.folder / "store")).url)
    return ws.store


def bench_train(args: argparse.Namespace, ws: Workspace) -> list[Figure]:
    """Figure 4: the demo's training step fed from HDF5 vs memory, and cached vs online distillation."""
    from benchmarks import train
    from pipeline import distributed
    from pipeline.config import parse
    from pipeline.teachers.registry import build_teacher
    from pipeline.train.config import TrainConfig
    from pipeline.train.data import distill_data
    from pipeline.train.runtime import setup_runtime
    from stages.params import read_params, section
    from stages.train import frontend_config

    params = read_params(ROOT / "params.yaml")
    data = section(params, "train", sampler="uniform", workers=args.workers, epochs=1, cache_logmels=False,
                   channels_last=False)  # today's loop; train.measure builds the bank + channels-last one
    data["epoch_size"] = (args.steps + args.warmup) * int(data.get("batch_size", 32))
    for key in ("name", "teachers"):  # the stage's own keys, not TrainConfig fields
        data.pop(key, None)
    cfg = parse(TrainConfig, data, "train")
    window = int(round(args.window_seconds * ws.corpus.sample_rate))
    train_data = distill_data(cfg, ws.corpus, [ensure_store(args, ws)], window, None, None)
    rt = setup_runtime(cfg, train_data, frontend_config(params, ws.corpus.sample_rate), distributed.DistInfo())
    med = train.measure(cfg, rt, train_data, build_teacher("aisfx", {}), args.steps, args.warmup)
    rate = {k: cfg.batch_size / v for k, v in med.items()}  # samples/s
    note = (f"{cfg.student} {cfg.student_options}, batch {cfg.batch_size}, median of {args.steps} steps: "
            f"HDF5 {rate['loader']:.1f}, memory {rate['memory']:.1f}, log-mel bank {rate['bank']:.1f}, "
            f"online {rate['online']:.1f} samples/s")
    return [Figure("4. train step from HDF5 / in-memory step", rate["loader"] / rate["memory"], ">=", 0.9, note=note),
            Figure("4. train step, log-mel bank + channels-last / HDF5 loader", rate["bank"] / rate["loader"], ">=", 2,
                   "x"),
            Figure("4. cached vs online teacher, speed-up", rate["loader"] / rate["online"], ">", 1, "x")]


def bench_latency(args: argparse.Namespace, ws: Workspace) -> list[Figure]:
    """Figure 5: teacher latency over the fastest student variant, one 10 s clip, batch 1, one thread."""
    from benchmarks import latency

    threads = torch.get_num_threads()
    try:
        out = latency.run(args.latency_runs, 2)
    finally:
        torch.set_num_threads(threads)
    best, teacher = out["best"], out["teacher"]
    eager = next(r for r in out["rows"][1:] if r.variant == "eager")
    note = (f"teacher {teacher.latency_ms:.0f} ms; fastest {best.model} {best.variant} {best.latency_ms:.1f} ms; "
            f"eager student {teacher.latency_ms / eager.latency_ms:.1f}x"
            + ("; FRESH weights (no trained student)" if out["fresh"] else ""))
    return [Figure("5. latency teacher / student (batch 1, 1 thread)", out["speedup"], ">=", 10, "x", note)]


def stages_run(output: str) -> int:
    """Stages a `dvc repro` ran, from its output, leaving out the profile stage (it always runs, to print the table)."""
    return output.count("Running stage") - output.count("Running stage 'profile'")


def run_e2e() -> dict:
    """Time `dvc repro` from scratch, then a no-op one, in a git copy of the tracked files with the real params."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp)
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        for name in files.split("\n"):
            if name and (ROOT / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, dest / name)
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "copy"]):
            subprocess.run(cmd, cwd=dest, env=env, check=True, capture_output=True)
        times, outputs, stages = [], [], []
        for _ in range(2):
            start = time.perf_counter()
            proc = subprocess.run(["dvc", "repro"], cwd=dest, env=env, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise RuntimeError(f"dvc repro failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            outputs.append(proc.stdout + proc.stderr)
            if not stages:  # the first (from scratch) repro's per-stage records, set aside by its profile stage
                stages = [dataclasses.asdict(t) for t in
                          stage_profile.read(stage_profile.log_dir(dest) / stage_profile.PRINTED_NAME)]
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
            "scratch_s": times[0], "noop_s": times[1], "stages_run": stages_run(outputs[0]),
            "stages_rerun_by_noop": stages_run(outputs[1]), "stages": stages}


def bench_e2e(args: argparse.Namespace, ws: Workspace | None) -> list[Figure]:
    """Figure 6: from benchmarks/e2e.json, or measured now (`e2e`, --run-e2e, or `all` without the file)."""
    if args.name == "e2e" or args.run_e2e or (not E2E_FILE.exists() and not args.skip_e2e):
        print("e2e: running the demo `dvc repro` from scratch in a temporary copy (15 min or more) ...", flush=True)
        E2E_FILE.write_text(json.dumps(run_e2e(), indent=2) + "\n")
        source = "measured now"
    elif E2E_FILE.exists():
        source = f"read from {E2E_FILE.relative_to(ROOT)}"
    else:
        return [Figure("6. e2e demo `dvc repro` from scratch", None, note="skipped (--skip-e2e, no e2e.json)")]
    e2e = json.loads(E2E_FILE.read_text())
    if e2e.get("stages"):
        print("e2e: where the from-scratch repro spent its time\n"
              + stage_profile.table([stage_profile.StageTiming(**t) for t in e2e["stages"]]), flush=True)
    note = (f"{source}: {e2e['date']}, commit {e2e['machine']['commit']}, {e2e['machine']['nproc']} CPUs "
            f"({e2e['machine']['cpu']}); {e2e['stages_run']} stages run")
    return [Figure("6. e2e demo `dvc repro` from scratch", e2e["scratch_s"] / 60, unit=" min", note=note),
            Figure("6. e2e no-op `dvc repro` after it", e2e["noop_s"], unit=" s",
                   note=f"{e2e['stages_rerun_by_noop']} stage(s) re-run")]


BENCHES = {"embed": bench_embed, "cluster": bench_cluster, "train": bench_train, "latency": bench_latency}


def parse_args() -> argparse.Namespace:
    """Command line: which benchmark, and the (small) sizes."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("name", choices=["all", *BENCHES, "e2e"])
    e2e = ap.add_mutually_exclusive_group()
    e2e.add_argument("--skip-e2e", action="store_true", help="never run the end-to-end repro (read e2e.json if any)")
    e2e.add_argument("--run-e2e", action="store_true", help="re-run the end-to-end repro even if e2e.json exists")
    ap.add_argument("--clips", type=int, default=32, help="clips of the working corpus (embed, train)")
    ap.add_argument("--window-seconds", type=float, default=4.0, help="teacher window / training example (s)")
    ap.add_argument("--repeats", type=int, default=2, help="embed: alternating runs, best kept")
    ap.add_argument("--workers", type=int, default=1, help="DataLoader processes (embed, train)")
    ap.add_argument("--cluster-rows", type=int, default=4000, help="cluster: rows of the 1x store (16x also run)")
    ap.add_argument("--cluster-dim", type=int, default=512)
    ap.add_argument("--steps", type=int, default=6, help="train: timed steps per feed")
    ap.add_argument("--warmup", type=int, default=2, help="train: untimed steps first")
    ap.add_argument("--latency-runs", type=int, default=10, help="latency: timed calls per model")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads for embed and train (0 = torch default; latency always uses 1): on a small "
                         "shared machine, 1 avoids OpenMP threads spinning against other processes")
    return ap.parse_args()


def main() -> None:
    """Run the chosen benchmark(s), print the table; `all` also writes benchmarks/results.json."""
    args = parse_args()
    os.chdir(ROOT)  # the benchmarks find cache/ and spawn `python -m benchmarks.*` children from the root
    if args.threads:
        torch.set_num_threads(args.threads)
    names = list(BENCHES) if args.name == "all" else [args.name] if args.name != "e2e" else []
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = None
        if {"embed", "train"} & set(names):
            corpus, origin = work_corpus(Path(tmp) / "corpus", args.clips)
            ws = Workspace(Path(tmp), corpus, origin)
        for name in names:
            print(f"benchmarks: {name} ...", file=sys.stderr, flush=True)
            figures += BENCHES[name](args, ws or Workspace(Path(tmp), None, ""))
        if args.name in ("all", "e2e"):
            figures += bench_e2e(args, ws)
    info = machine()
    print(f"\n{datetime.date.today()}, {info['nproc']} CPUs ({info['cpu']}), load average {info['load_average_1min']}, "
          f"torch {info['torch']} ({torch.get_num_threads()} threads), commit {info['commit']}"
          + (f"; working corpus: {ws.origin}" if ws else ""))
    print(table(figures))
    if args.name == "all":
        save_results(RESULTS_FILE, figures, {"sizes": {k: v for k, v in vars(args).items() if k != "name"},
                                             "corpus": ws.origin if ws else None})
        print(f"\nwrote {RESULTS_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
