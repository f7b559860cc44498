"""A teacher from user code: `package.module:factory` returns an object that follows the protocol."""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import ConfigError, check
from pipeline.teachers.base import Teacher, check_teacher

ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class EntryOptions:
    """Options of the `python` teacher: where the factory lives and its keyword arguments."""

    entry: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check(bool(ENTRY.match(self.entry)), "entry", f"expected 'package.module:factory', got {self.entry!r}")


def load_entry(options: EntryOptions) -> Teacher:
    """Import the factory, call it with `kwargs` and check that the result is a teacher."""
    module_name, attr = options.entry.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"entry: cannot import {module_name!r} ({exc})") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"entry: {module_name!r} has no callable {attr!r}")
    teacher = check_teacher(factory(**options.kwargs), f"entry {options.entry}")
    teacher.eval()
    return teacher
