"""Publishing a file whole or not at all: write it under a temporary name beside it, then rename it into place;
and telling a file's bytes apart (sha256) once they are on disk."""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary name beside `path` to write, renamed onto `path` if the block succeeds and deleted if not."""
    # so a full disk, a read-only folder or a kill mid-write never leaves a half-written file at `path`
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # a failed clean-up must not hide the error that caused it
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno and exc.filename is None:  # ENOSPC from a write names no file
            raise OSError(exc.errno, f"{exc.strerror} (writing {path})") from exc
        raise


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (tells two different files at the same path apart)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sync(path: str | Path) -> None:
    """Flush file `path` and its folder's entry to disk: a kill loses nothing the page cache holds, a power cut can."""
    path = Path(path)
    for target in (path, path.parent):
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
