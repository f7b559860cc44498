"""Resume after a kill: `ssondo embed` killed with SIGKILL part-way, then run again, against one unbroken run.

    python -m benchmarks.embed_resume [--params params.yaml] [--teacher aisfx] [--kill-at 0.5] [--folder DIR]

Runs the stage's own command (`python -m stages.embed`, the params file's corpus and settings) three times: once
unbroken (timed); once killed with SIGKILL when its progress bar passes `--kill-at` of the windows; once more on the
killed run's folder (timed). Prints the windows the rerun reused and the rerun / unbroken ratios of wall and CPU time
(the stage's processes' own CPU time varies less on a shared machine), checks that the resumed store is bitwise the
unbroken one (every array and the ledger checksums) and runs `ssondo store verify` on it (re-embedding 32 rows).
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

from benchmarks.common import ROOT
from pipeline.store import EmbeddingStore, current_url, store_contents

PROGRESS = re.compile(r"(\d+)/(\d+) \[")  # tqdm's "done/total [" in the stage's progress bar


def stage(*args: str) -> subprocess.Popen:
    """`python -m stages.<args>` from the project root, output captured."""
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cpu_of_children() -> float:
    """User + system CPU seconds of every finished child process (and theirs: the DataLoader workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def embed_args(params: str, teacher: str, corpus: str, out: str) -> list[str]:
    """The embed stage's command line, its store root beside its pointer folder `out` (as dvc.yaml passes them)."""
    return ["stages.embed", "--params", params, "--teacher", teacher, "--corpus", corpus, "--stores", f"{out}-stores",
            "--out", out]


def timed_embed(params: str, teacher: str, corpus: str, out: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and stdout of one whole `embed` run."""
    t0, cpu0 = time.perf_counter(), cpu_of_children()
    proc = stage(*embed_args(params, teacher, corpus, out))
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"embed failed:\n{stderr[-3000:]}")
    return time.perf_counter() - t0, cpu_of_children() - cpu0, stdout


def killed_embed(params: str, teacher: str, corpus: str, out: str, fraction: float) -> tuple[int, int, float]:
    """Start `embed`, SIGKILL it once its progress bar passes `fraction` of the windows; (windows done, total, s)."""
    t0 = time.perf_counter()
    proc, seen = stage(*embed_args(params, teacher, corpus, out)), [0, 1]

    def watch() -> None:
        text = ""
        while char := proc.stderr.read(1):  # characters: tqdm redraws after a '\r', which text mode reads as '\n'
            text = text[-200:] + char
            if char == "\n" and (found := PROGRESS.findall(text)):
                seen[:] = map(int, found[-1])
                if seen[0] >= fraction * seen[1]:
                    proc.send_signal(signal.SIGKILL)

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    proc.wait()
    reader.join()
    if proc.returncode != -signal.SIGKILL:
        raise SystemExit(f"embed ended before it was killed (exit {proc.returncode})")
    return seen[0], seen[1], time.perf_counter() - t0


def main(params: str, teacher: str, corpus: str, fraction: float, folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    whole, resumed = f"{folder}/whole", f"{folder}/resumed"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    full_s, full_cpu, _ = timed_embed(params, teacher, corpus, whole)
    print(f"unbroken run: {full_s:.1f} s wall, {full_cpu:.1f} s CPU", flush=True)
    done, total, killed_s = killed_embed(params, teacher, corpus, resumed, fraction)
    stores = f"{resumed}-stores/{teacher}/stores"
    url = next(f"{stores}/{name}" for name in os.listdir(stores) if not name.endswith(".lock"))
    committed = EmbeddingStore.open(url).info()["windows_committed"]
    print(f"killed after {killed_s:.1f} s at {done}/{total} windows on the progress bar; {committed} committed",
          flush=True)
    rerun_s, rerun_cpu, line = timed_embed(params, teacher, corpus, resumed)
    print(f"rerun: {rerun_s:.1f} s wall, {rerun_cpu:.1f} s CPU; {line.strip()}", flush=True)
    same = store_contents(url) == store_contents(current_url(whole))
    check = stage("stages.cli", "store", "verify", resumed, "--params", params, "--corpus", corpus)
    verified = check.communicate()[0].strip()
    print(f"rerun / unbroken: wall {rerun_s / full_s:.2f}, CPU {rerun_cpu / full_cpu:.2f}; resumed store bitwise "
          f"the unbroken one: {same}; "
          f"{verified}; load average {os.getloadavg()[0]:.1f}")
    if not same or check.returncode != 0:
        raise SystemExit(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (embed and audio sections)")
    parser.add_argument("--corpus", default="cache/corpus", help="prepared corpus folder (paths.corpus)")
    parser.add_argument("--teacher", default="aisfx", help="teacher of embed.teachers")
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction of the windows at which to SIGKILL")
    parser.add_argument("--folder", default="/tmp/embed-resume", help="scratch folder (emptied first)")
    args = parser.parse_args()
    main(args.params, args.teacher, args.corpus, args.kill_at, args.folder)
