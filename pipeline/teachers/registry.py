"""Teacher kinds -> (options dataclass, loader), and teacher instances. The stages build teachers only through here.

A teacher instance has a name (an `embed.teachers` entry: it names the store, the head and the report row) and a
kind (a key of TEACHERS). A built-in kind used once is its own name (`aisfx`); any other name gives its kind in its
options, e.g. `embed.options.mymodel: {kind: python, entry: "mypkg.teachers:make"}`, so any number of user teachers
(python entry points, TorchScript or ONNX files) sit side by side.
"""
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


KIND = "kind"  # the options key that gives an instance's kind


def instance_kind(name: str, options: Mapping[str, Any] | None, where: str = "teacher_options") -> tuple[str, dict]:
    """(kind, options without the `kind` key) of teacher instance `name`: its options' `kind`, else the name itself."""
    if options is not None and not isinstance(options, Mapping):
        raise ConfigError(f"{where}: expected a mapping of options, got {options!r}")
    rest = dict(options or {})
    kind = rest.pop(KIND, name)
    if kind not in TEACHERS:
        if KIND in (options or {}):
            raise ConfigError(f"{where}.{KIND}: unknown teacher kind {kind!r}; valid kinds: {sorted(TEACHERS)}")
        raise ConfigError(f"teacher: unknown teacher {name!r}; valid names: {sorted(TEACHERS)}, or any name whose "
                          f"options give its kind ({where}.{KIND}: one of those)")
    return kind, rest


def teacher_options(name: str, options: Mapping[str, Any] | None, where: str = "teacher_options") -> Any:
    """Validate `options` for teacher instance `name` into its kind's frozen options dataclass (loads no weights)."""
    kind, rest = instance_kind(name, options, where)
    return parse(TEACHERS[kind].options, rest, where)


def build_teacher(name: str, options: Mapping[str, Any] | None = None, where: str = "teacher_options") -> Teacher:
    """Load teacher instance `name` with `options`, in eval mode on the CPU; the teacher carries the instance name
    (a user factory's own `name` gives way to it, so the store, the head and the report row all say `name`)."""
    kind, _ = instance_kind(name, options, where)
    teacher = TEACHERS[kind].load(teacher_options(name, options, where))
    if teacher.name != name:
        try:
            teacher.name = name
        except AttributeError as exc:
            raise ConfigError(f"teacher {name!r}: its {type(teacher).__name__} object has a read-only `name`, so "
                              f"it cannot carry the instance name") from exc
    return teacher

