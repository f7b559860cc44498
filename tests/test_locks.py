"""The store lock: exclusive, names its holder, and dies with its holder even when forked children outlive it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.locks import FileLock, LockHeld

ROOT = Path(__file__).resolve().parents[1]


def test_a_second_holder_is_refused_with_the_first_holder_pid(tmp_path: Path):
    with FileLock(tmp_path / "s.lock", "store x"):
        code = ("import sys; from pipeline.locks import FileLock, LockHeld\n"
                f"try:\n    FileLock({str(tmp_path / 's.lock')!r}, 'store x').__enter__()\n"
                "except LockHeld as exc:\n    print(exc); sys.exit(3)\n")
        other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert other.returncode == 3 and f"pid {os.getpid()}" in other.stdout
    with FileLock(tmp_path / "s.lock", "store x"):  # released on exit: taken again at once
        pass


def test_a_sigkilled_holder_frees_the_lock_while_its_forked_child_lives(tmp_path: Path):
    """The holder forks a child (as a DataLoader worker is forked) and is killed with SIGKILL: the lock is free at
    once, though the child, which inherited the descriptor, is still alive."""
    lock, ready = tmp_path / "s.lock", tmp_path / "child.pid"
    code = ("import os, time\nfrom pipeline.locks import FileLock\n"
            f"FileLock({str(lock)!r}, 'store x').__enter__()\n"
            "pid = os.fork()\n"
            "if pid == 0:\n    time.sleep(30); os._exit(0)\n"
            f"open({str(ready)!r}, 'w').write(str(pid))\n"
            "time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not (ready.exists() and ready.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(ready.read_text())
    try:
        with pytest.raises(LockHeld):  # the holder is alive: refused
            FileLock(lock, "store x").__enter__()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        os.kill(child, 0)  # the forked child still runs
        with FileLock(lock, "store x"):  # and yet the lock is free at once
            pass
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
