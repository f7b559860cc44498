"""The teacher protocol: what the embed stage may rely on, whatever model sits behind it."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from pipeline.config import ConfigError

ATTRIBUTES = {"name": str, "sample_rate": int, "embed_dim": int, "fingerprint": str}
METHODS = ("embed", "to", "eval")


@runtime_checkable
class Teacher(Protocol):
    """A frozen audio embedding model that maps one window per row to one vector per row.

    `embed` takes float32 (batch, samples) at `sample_rate` and returns float32 (batch, embed_dim).
    `lengths` (batch,) counts the real samples of each row when a short clip was zero-padded;
    teachers that pool over internal frames pool only over frames that overlap real audio.
    `fingerprint` is a short hash of the weights actually loaded (plus front-end settings), so
    cached embeddings go stale exactly when the teacher changes.
    """

    name: str
    sample_rate: int
    embed_dim: int
    fingerprint: str

    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, samples) float32 -> (batch, embed_dim) float32, for one window per row."""
        ...

    def to(self, device: torch.device | str) -> Any:
        """Move the weights to `device` (returns the teacher)."""
        ...

    def eval(self) -> Any:
        """Inference mode for layers such as dropout and batch norm (returns the teacher)."""
        ...


class MissingRuntimeError(ImportError):
    """A teacher's third-party runtime is not installed; the message says what to install."""


def check_teacher(obj: Any, where: str) -> Teacher:
    """Return `obj` if it follows the protocol, else raise ConfigError naming every problem."""
    problems = []
    for attr, kind in ATTRIBUTES.items():
        if not hasattr(obj, attr):
            problems.append(f"missing attribute {attr!r}")
            continue
        value = getattr(obj, attr)
        numeric = kind is not str and isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is str and not (isinstance(value, str) and value):
            problems.append(f"{attr!r} must be a non-empty string, got {value!r}")
        elif kind is int and not (numeric and value == int(value) and value > 0):
            problems.append(f"{attr!r} must be a positive integer, got {value!r}")
        elif kind is float and not (numeric and value > 0):
            problems.append(f"{attr!r} must be a positive number, got {value!r}")
    problems += [f"missing method {m!r}" for m in METHODS if not callable(getattr(obj, m, None))]
    if problems:
        raise ConfigError(f"{where}: {type(obj).__name__} does not follow the teacher protocol: "
                          + "; ".join(problems))
    return obj
