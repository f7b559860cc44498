"""Run a module as `python -m` would, recording every file it opens and every module it imports.

Usage: python audited.py LOG.json MODULE [ARGS...]
At exit LOG.json holds {"opened": [paths], "modules": [names]}; the audit hook sees opens from Python code and
from torch.load / zarr / pyarrow's Python layers alike, in every thread of the process.
"""
from __future__ import annotations

import atexit
import json
import os
import runpy
import sys

OPENED: list[str] = []


def _hook(event: str, args: tuple) -> None:
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        OPENED.append(os.fsdecode(args[0]))


def _dump(path: str) -> None:
    with open(path, "w") as f:
        json.dump({"opened": OPENED, "modules": sorted(sys.modules)}, f)


if __name__ == "__main__":
    log, module, *rest = sys.argv[1:]
    atexit.register(_dump, log)
    sys.addaudithook(_hook)
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
