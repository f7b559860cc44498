"""Short content hashes of loaded weights (teachers, students, exports), so caches go stale exactly when a model changes."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import torch

SHORT = 16


def _settings_bytes(settings: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(settings), sort_keys=True, default=str).encode()


def weights_fingerprint(state: Mapping[str, torch.Tensor], settings: Mapping[str, Any]) -> str:
    """sha256 over each tensor's name, dtype, shape and bytes in sorted key order, plus `settings`."""
    h = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)};".encode())
        # a uint8 view reads the raw bytes of any dtype, bfloat16 included
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    h.update(_settings_bytes(settings))
    return h.hexdigest()[:SHORT]


def file_fingerprint(path: str | Path, settings: Mapping[str, Any]) -> str:
    """sha256 of a weights file's bytes plus `settings` (for runtimes that hide their tensors)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(_settings_bytes(settings))
    return h.hexdigest()[:SHORT]
