"""Running `extract` in a subprocess that a test can kill at a known point (the extraction and views tests)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from pipeline.corpus import Corpus

ROOT = Path(__file__).resolve().parents[2]
HELPERS = ROOT / "tests" / "helpers"
RATE, TEACHER_RATE = 16000, 8000
# 0.25 s windows over 12 clips of 0.2..1.63 s -> 48 windows; 12 shards of 4 rows, batches of 2
CFG = dict(window_seconds=0.25, hop_seconds=0.25, last_window="pad", dtype="float16", batch_size=2, workers=0,
           chunk_rows=2, shard_rows=4, device="cpu")

# Runs `extract` with the toy teacher (optionally sleeping per batch) in its own process; under torchrun each
# rank joins a gloo group. Every shard a rank closes is logged to <out>/wrote-<rank>.json. With `hang_after` = n,
# the writer thread stops after n commits, before its next commit or shard close, and creates <out>/hung, so a kill
# lands at a known point; with `hang_at_call` = n, the main thread stops at the teacher's n-th call instead.
SCRIPT = r"""
import json, sys, time
sys.path.insert(0, {helpers!r})
import torch
torch.set_num_threads(1)
from toy_teacher import ToyTeacher
from pipeline import distributed
from pipeline.corpus import Corpus
from pipeline.config import parse
from pipeline.embed import EmbedConfig, extract
from pipeline.store import EmbeddingStore

args = json.loads(sys.argv[1])
info = distributed.discover()
commits, commit = [], EmbeddingStore.commit_rows
def hang_if_due():
    if len(commits) == args.get("hang_after"):
        open(f"{{args['out']}}/hung", "w").close()
        time.sleep(3600)
def counted(self, *a):
    hang_if_due()
    commit(self, *a)
    commits.append(a[1])
EmbeddingStore.commit_rows = counted
wrote, close = [], EmbeddingStore.close_shard
def logged(self, shard):
    hang_if_due()
    close(self, shard)
    wrote.append(shard)
    with open(f"{{args['out']}}/wrote-{{info.rank}}.json", "w") as f:
        json.dump(wrote, f)
EmbeddingStore.close_shard = logged

teacher = ToyTeacher(sample_rate={rate})
embed = teacher.embed
calls = []
def slow(waves, lengths=None):
    calls.append(1)
    if len(calls) == args.get("hang_at_call"):  # in the main thread, the DataLoader mid-iteration
        open(f"{{args['out']}}/hung", "w").close()
        time.sleep(3600)
    time.sleep(args["sleep"])
    return embed(waves, lengths)
teacher.embed = slow
distributed.init(info, torch.device("cpu"))
try:
    result = extract(parse(EmbedConfig, args["cfg"], "embed"), teacher, Corpus(args["corpus"]), args["stores"], info)
finally:
    distributed.shutdown()
print("RESULT", json.dumps({{"rank": info.rank, "url": result.url, "reused": result.reused}}), flush=True)
"""


def script(tmp_path: Path) -> Path:
    path = tmp_path / "run_extract.py"
    path.write_text(SCRIPT.format(helpers=str(HELPERS), rate=TEACHER_RATE))
    return path


def launch(tmp_path: Path, corpus: Corpus, out: Path, sleep: float, torchrun: bool = False,
           hang_after: int | None = None, cfg: dict | None = None, stores: Path | None = None,
           hang_at_call: int | None = None) -> subprocess.Popen:
    """Start a run writing its logs (and `hung`) to `out` and its store under `stores` (default: `out`)."""
    args = json.dumps({"cfg": dict(CFG, teacher="toy", **(cfg or {})), "corpus": corpus.path, "out": str(out),
                       "stores": str(stores or out), "sleep": sleep, "hang_after": hang_after,
                       "hang_at_call": hang_at_call})
    cmd = [sys.executable, str(script(tmp_path)), args]
    if torchrun:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
               *cmd[1:]]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early:\n{proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the subprocess")
        time.sleep(0.01)
