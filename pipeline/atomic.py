"""Publishing a file whole or not at all: write it under a temporary name beside it, then rename it into place."""
from __future__ import annotations

import contextlib
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
