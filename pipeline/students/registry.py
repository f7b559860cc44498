"""Config name -> student class; each class carries its frozen `Options` dataclass."""
from __future__ import annotations

from typing import Any, Mapping

from pipeline.config import ConfigError, parse
from pipeline.students.base import Student
from pipeline.students.dymn import DyMN
from pipeline.students.eres2net import ERes2Net
from pipeline.students.mobilenetv3 import MobileNetV3

STUDENTS: dict[str, type[Student]] = {
    "mobilenetv3": MobileNetV3,
    "dymn": DyMN,
    "eres2net": ERes2Net,
}


def student_options(name: str, options: Mapping[str, Any] | None = None, path: str = "student") -> Any:
    """Parse `options` into the frozen options dataclass of student `name`."""
    if name not in STUDENTS:
        raise ConfigError(f"{path}: unknown student {name!r}; valid: {sorted(STUDENTS)}")
    return parse(STUDENTS[name].Options, options, f"{path}.{name}")


def build_student(name: str, options: Mapping[str, Any] | Any = None) -> Student:
    """Build student `name` from a params mapping (or an already-parsed options dataclass)."""
    if name in STUDENTS and isinstance(options, STUDENTS[name].Options):
        return STUDENTS[name](options)
    parsed = student_options(name, options)
    return STUDENTS[name](parsed)
