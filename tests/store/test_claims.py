"""Claims on parts of a store: exclusive, renewed, taken over when stale (holder gone here, or silent for its
expiry elsewhere), and lost claims reported; on a local disk and on `memory://` (the S3 server in test_s3.py)."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from pipeline.store import claims as claims_module
from pipeline.store.claims import ClaimLost, Claims


@pytest.fixture(params=["local", "memory"])
def url(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "store")
    import fsspec

    memory = fsspec.filesystem("memory")
    if memory.exists("/claims-test"):
        memory.rm("/claims-test", recursive=True)
    return "memory://claims-test/store"


def test_a_claim_is_exclusive_and_given_back(url):
    a, b = Claims(url, ttl=60, owner="a"), Claims(url, ttl=60, owner="b")
    assert a.take("shard-000001") and not b.take("shard-000001")
    assert b.holders(["shard-000001", "shard-000002"]) == {"shard-000001": "a"}
    a.release("shard-000001")
    assert b.take("shard-000001") and b.read("shard-000001")["owner"] == "b"


def test_a_claim_whose_process_here_is_gone_is_taken_at_once(url):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    a = Claims(url, ttl=3600, owner="gone")
    assert a.take("create")
    record = dict(a.read("create"), pid=int(dead.stdout))  # as if a process that has exited had taken it
    a.fs.pipe_file(a._path("create"), json.dumps(record).encode())
    assert Claims(url, ttl=3600, owner="b").take("create")


def test_a_silent_claim_from_another_machine_expires_after_its_ttl(url, monkeypatch):
    monkeypatch.setattr(claims_module, "HOST", "elsewhere/0000")
    other = Claims(url, ttl=2.0, owner="elsewhere")
    assert other.take("shard-000000")
    monkeypatch.undo()
    b = Claims(url, ttl=60, owner="b")
    assert not b.take("shard-000000")  # first sight: the clock starts
    time.sleep(0.2)
    assert not b.take("shard-000000")  # unchanged, but not for its ttl yet
    time.sleep(2.0)
    assert b.take("shard-000000") and b.read("shard-000000")["owner"] == "b"


def test_a_renewed_claim_does_not_expire_and_a_taken_one_is_lost(url, monkeypatch):
    monkeypatch.setattr(claims_module, "HOST", "elsewhere/0000")
    with Claims(url, ttl=2.0, owner="alive") as holder:
        assert holder.take("shard-000003")
        monkeypatch.undo()
        b = Claims(url, ttl=60, owner="b")
        for _ in range(10):  # 5 s, two and a half times its ttl: the beats (every 0.5 s) keep it fresh
            assert not b.take("shard-000003")
            time.sleep(0.5)
        holder.require("shard-000003")
        holder._stop.set()  # the holder stalls (no more beats) ...
        holder._thread.join()
        deadline = time.monotonic() + 30
        while not b.take("shard-000003"):  # ... and another writer takes over after the ttl
            assert time.monotonic() < deadline
            time.sleep(0.1)
        holder.renew()  # the stalled holder wakes up: its claim is someone else's now
        with pytest.raises(ClaimLost, match=r"claim on shard-000003 was taken by b after this writer did not renew"):
            holder.require("shard-000003")
    assert b.read("shard-000003")["owner"] == "b"  # leaving the context released nothing of b's
