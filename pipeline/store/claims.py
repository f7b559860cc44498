"""Claims: leases on parts of a store (its creation, each shard, its finalising) that work wherever the store lives.

A claim is a small JSON object in the store's `claims/` folder, created only if absent (an exclusive create:
`O_EXCL` on a local disk, `If-None-Match: *` on S3 and servers of its protocol, the same on `memory://`), so of two
writers that try at once exactly one gets it. The holder renews its claims from a background thread (a `beat` counter, every
quarter of `ttl`). Another writer treats a claim as stale, and may take it, when

- the holder ran on this machine and its process is gone (a SIGKILLed run requeued at once resumes at once), or
- the claim has not changed for `ttl` seconds of the observer's own clock (the holder's machine is down or cut off;
  no clocks are compared between machines).

A holder that finds its claim taken (it stalled longer than `ttl`) stops before its next commit (`ClaimLost`); the
store's commit records refuse a commit that does not continue the shard's last one, so a stalled writer that wakes
up cannot interleave rows with the writer that took over.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

import fsspec

from pipeline.store.layout import remote_errors


CLAIMS = "claims"  # the folder of claims inside a store (kept when a cut-off creation is redone)


class ClaimLost(Exception):
    """This writer's claim was taken by another writer (it stalled past the claim's expiry)."""


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()[:8]
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), '' elsewhere: tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return "" if fields[0] == "Z" else fields[19]  # a zombie is gone already
    except (OSError, IndexError):
        return ""


HOST = f"{socket.gethostname()}/{_boot_id()}"


def _alive(pid: int, started: str) -> bool:
    """Whether process `pid` of this machine still runs (and is the one that started at `started`)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = _start_time(pid)
    return not started or now == started


@dataclass
class _Seen:
    """What an observer last read of a claim it does not hold, and since when (its own monotonic clock)."""

    record: dict
    since: float = field(default_factory=time.monotonic)


class Claims:
    """The claims of one writer (`owner`) on the store at `url`; use as a context manager to renew and release them.

    `ttl` is the expiry of this writer's claims as other writers judge it; `poll` how often a waiting writer looks.
    """

    def __init__(self, url: str, ttl: float, owner: str | None = None, poll: float | None = None):
        self.fs, root = fsspec.core.url_to_fs(url)
        self.url, self.dir, self.ttl = url, f"{root}/{CLAIMS}", float(ttl)
        self.poll = poll if poll is not None else min(1.0, self.ttl / 4)
        self.owner = owner or f"{HOST}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.held: dict[str, dict] = {}
        self.lost: dict[str, dict] = {}
        self.seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- taking and giving back ---------------------------------------------------------------
    def _path(self, name: str) -> str:
        return f"{self.dir}/{name}.json"

    def take(self, name: str) -> bool:
        """Claim `name` if nobody holds it or its holder's claim is stale; False if a live writer holds it."""
        record = {"owner": self.owner, "host": HOST, "pid": os.getpid(), "started": _start_time(os.getpid()),
                  "ttl": self.ttl, "beat": 0, "taken": time.time()}
        for _ in range(2):
            try:
                self.fs.makedirs(self.dir, exist_ok=True)
                self.fs.pipe_file(self._path(name), json.dumps(record).encode(), mode="create")
            except FileExistsError:
                other = self.read(name)
                if other is not None and not self.stale(name, other):
                    return False
                if other is not None and self.read(name) == other:  # still the stale one: remove it, try once more
                    self._remove(name)
                continue
            self.seen.pop(name, None)
            if self.read(name) != record:  # another writer removed a stale claim at the same moment: it is theirs
                return False
            with self._lock:
                self.held[name] = record
            return True
        return False

    def release(self, name: str) -> None:
        """Give `name` back (only if this writer still holds it)."""
        with self._lock:
            mine = self.held.pop(name, None)
        if mine is not None and self.read(name) == mine:
            self._remove(name)

    def require(self, name: str) -> None:
        """Raise ClaimLost if this writer's claim on `name` was found taken by another writer."""
        if name in self.lost:
            other = self.lost[name]
            raise ClaimLost(f"store {self.url}: the claim on {name} was taken by {other.get('owner', 'another writer')}"
                            f" after this writer did not renew it for {self.ttl:g} s; its last commit stands, rerun to "
                            f"resume what is left")

    def _remove(self, name: str) -> None:
        try:
            self.fs.rm(self._path(name))
        except FileNotFoundError:
            pass

    # -- what others hold ---------------------------------------------------------------------
    def read(self, name: str) -> dict | None:
        """The claim record of `name`, or None if there is none (or it is being replaced)."""
        try:
            return json.loads(self.fs.cat_file(self._path(name)))
        except (FileNotFoundError, ValueError):
            return None

    def stale(self, name: str, record: dict) -> bool:
        """Whether another writer's claim may be taken: its local holder is gone, or it has not changed for its ttl."""
        if record.get("host") == HOST and not _alive(int(record.get("pid", -1)), record.get("started", "")):
            return True
        seen = self.seen.get(name)
        if seen is None or seen.record != record:
            self.seen[name] = _Seen(record)
            return False
        return time.monotonic() - seen.since > float(record.get("ttl", self.ttl))

    def holders(self, names: list[str]) -> dict[str, str]:
        """Who holds each of `names` now (owner of the claim), for a waiting writer's message."""
        return {n: r["owner"] for n in names if (r := self.read(n)) is not None}

    # -- renewal ------------------------------------------------------------------------------
    def renew(self) -> None:
        """Beat every held claim once; a claim now in another writer's name moves to `lost`."""
        with self._lock:
            held = dict(self.held)
        for name, record in held.items():
            beat = dict(record, beat=record["beat"] + 1)
            try:
                now = self.read(name)
                if now is not None and now.get("owner") != self.owner:
                    with self._lock:
                        self.held.pop(name, None)
                        self.lost[name] = now
                    continue
                self.fs.pipe_file(self._path(name), json.dumps(beat).encode())
            except (OSError, *remote_errors()):
                continue  # the storage is unreachable: try again at the next beat; the commits will say why they fail
            with self._lock:
                if name in self.held:
                    self.held[name] = beat

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            self.renew()

    def __enter__(self) -> "Claims":
        self._thread = threading.Thread(target=self._beat, name="claims-renewal", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for name in list(self.held):
            try:
                self.release(name)
            except (OSError, *remote_errors()):
                pass  # unreachable: the claims expire by themselves
