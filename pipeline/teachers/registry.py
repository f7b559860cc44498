"""Teacher names -> (options dataclass, loader). The embed stage builds teachers only through here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from pipeline.config import ConfigError, parse
from pipeline.teachers.aisfx import AisfxOptions, load_aisfx
from pipeline.teachers.base import Teacher
from pipeline.teachers.crepe import CrepeOptions, load_crepe
from pipeline.teachers.entry_point import EntryOptions, load_entry
from pipeline.teachers.m2d import M2DOptions, load_m2d
from pipeline.teachers.matpac import MatpacOptions, load_matpac
from pipeline.teachers.onnx_model import OnnxOptions, load_onnx
from pipeline.teachers.resemblyzer import ResemblyzerOptions, load_resemblyzer
from pipeline.teachers.torchscript import ScriptedOptions, load_scripted


@dataclass(frozen=True)
class TeacherEntry:
    """How to validate a teacher's options and how to load it."""

    options: type
    load: Callable[[Any], Teacher]


TEACHERS: dict[str, TeacherEntry] = {
    "aisfx": TeacherEntry(AisfxOptions, load_aisfx),
    "crepe": TeacherEntry(CrepeOptions, load_crepe),
    "torchscript": TeacherEntry(ScriptedOptions, load_scripted),
    "onnx": TeacherEntry(OnnxOptions, load_onnx),
    "python": TeacherEntry(EntryOptions, load_entry),
    "m2d": TeacherEntry(M2DOptions, load_m2d),
    "matpac": TeacherEntry(MatpacOptions, load_matpac),
    "resemblyzer": TeacherEntry(ResemblyzerOptions, load_resemblyzer),
}


def teacher_options(name: str, options: Mapping[str, Any] | None, where: str = "teacher_options") -> Any:
    """Validate `options` for teacher `name` into its frozen options dataclass (loads no weights)."""
    if name not in TEACHERS:
        raise ConfigError(f"teacher: unknown teacher {name!r}; valid names: {sorted(TEACHERS)}")
    return parse(TEACHERS[name].options, options, where)


def build_teacher(name: str, options: Mapping[str, Any] | None = None, where: str = "teacher_options") -> Teacher:
    """Load teacher `name` with `options`, in eval mode on the CPU."""
    parsed = teacher_options(name, options, where)
    return TEACHERS[name].load(parsed)

