"""An exclusive, non-blocking lock on a local file, naming the holder when taken.

An flock belongs to the open file, and a forked child (a DataLoader worker, a process pool) inherits the
descriptor: killed with SIGKILL, the holder would leave its lock to the orphaned workers until they exit. So every
forked child closes the lock descriptors it inherited (`os.register_at_fork`): the lock dies with its holder.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


_HELD: set[int] = set()  # descriptors of the locks this process holds


def _close_inherited() -> None:
    """In a freshly forked child: close (never unlock: that would free the parent's lock) inherited lock fds."""
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_close_inherited)


class LockHeld(Exception):
    """Another process holds the lock."""


def _holder(fd: int, wait_s: float = 1.0) -> str:
    """The pid written in the lock file; waits briefly because the holder writes it just after locking."""
    deadline = time.monotonic() + wait_s
    while True:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
        if holder or time.monotonic() > deadline:
            return holder or "unknown"
        time.sleep(0.02)


class FileLock:
    """`with FileLock(path):` holds an flock for the block; raises LockHeld if another process has it."""

    def __init__(self, path: str | Path, what: str):
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> "FileLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise LockHeld(f"{self.what} is being written by another process (pid {holder}); "
                           f"wait for it or stop it (lock file {self.path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        _HELD.add(fd)
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None and self._fd in _HELD:  # not in a forked child, where it was closed at the fork
            _HELD.discard(self._fd)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
        self._fd = None
