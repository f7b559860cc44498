"""`deps:` in dvc.yaml cannot drift from the code: each stage lists every module its command imports.

The import closure of a stage starts at its command's module (`ssondo <verb>` -> `stages/<verb>.py`) and follows
every `import` of `pipeline` and `stages` modules, including imports inside functions and the package `__init__`
files an import executes. A module the closure reaches but `deps:` does not cover (as a file or through a listed
folder) means an edit to it would not re-run the stage.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from stages.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "stages")


def module_file(name: str) -> Path | None:
    """The source file of a dotted module name inside this project, or None (third-party or missing)."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """Dotted names of every project module `path` imports anywhere (`from a import b` may name module a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the project imports absolutely)"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if module_file(n) is not None}


def with_parents(name: str) -> list[str]:
    """`a.b.c` -> [`a`, `a.b`, `a.b.c`]: importing a module runs each parent package's `__init__`."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def closure(start: str) -> set[Path]:
    """Project files (relative to the root) that importing module `start` executes."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        for mod in with_parents(name):
            if mod in seen or module_file(mod) is None:
                continue
            seen.add(mod)
            todo.extend(imported_modules(module_file(mod)))
    return {module_file(m).relative_to(ROOT) for m in seen if not _inert(module_file(m))}


def _inert(path: Path) -> bool:
    """A package `__init__` with nothing but a docstring and constants (editing it changes no result)."""
    if path.name != "__init__.py":
        return False
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, (ast.Expr, ast.Assign)) for node in body)


def stage_specs() -> dict[str, dict]:
    """Stage name -> its definition (`foreach` stages by their `do` body)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: spec.get("do", spec) for name, spec in stages.items()}


def stage_module(cmd: str) -> str:
    """`ssondo <verb> ...` -> `stages.<module>`."""
    match = re.match(r"\s*ssondo\s+([\w-]+)", cmd)
    assert match, f"cmd {cmd!r} does not run a `ssondo` stage command"
    return f"stages.{COMMANDS[match.group(1)]}"


def code_deps(spec: dict) -> list[str]:
    """The `pipeline/` and `stages/` entries of a stage's deps."""
    return [d for d in spec.get("deps", []) if isinstance(d, str) and d.split("/")[0] in PACKAGES]


def missing(files: set[Path], deps: list[str]) -> list[str]:
    """Files of the closure that no dep covers (a dep covers itself and everything below it)."""
    covered = [Path(d) for d in deps]
    return sorted(str(f) for f in files if not any(f == d or d in f.parents for d in covered))


def unused(files: set[Path], deps: list[str]) -> list[str]:
    """Deps that cover no file of the closure (they re-run the stage for edits that cannot change it)."""
    return sorted(d for d in deps if not any(f == Path(d) or Path(d) in f.parents for f in files))


STAGES = stage_specs()


@pytest.mark.parametrize("name", sorted(STAGES))
def test_deps_cover_the_import_closure(name):
    spec = STAGES[name]
    files = closure(stage_module(spec["cmd"]))
    deps = code_deps(spec)
    assert not missing(files, deps), f"dvc.yaml stage {name!r}: deps miss modules its command imports"
    assert not unused(files, deps), f"dvc.yaml stage {name!r}: deps list code its command never imports"
    for dep in deps:
        assert (ROOT / dep).exists(), f"dvc.yaml stage {name!r}: dep {dep} does not exist"


def test_the_check_fails_when_a_dep_is_removed():
    spec = STAGES["train"]
    files = closure(stage_module(spec["cmd"]))
    deps = code_deps(spec)
    assert not missing(files, deps)
    for dropped in deps:
        assert missing(files, [d for d in deps if d != dropped]), f"dropping {dropped} went unnoticed"


def test_closure_follows_imports_inside_functions_and_package_inits():
    files = closure("stages.train")
    assert Path("pipeline/cluster/index.py") in files  # imported inside stages.train.load_data
    assert Path("pipeline/train/__init__.py") in files  # runs before any pipeline.train.* module
    assert Path("pipeline/teachers/registry.py") not in closure("stages.train")  # training loads no teacher


def filled_deps(stage: str, params: dict) -> list[str]:
    """A stage's deps with the embeddings folder and cluster teacher filled in from `params`."""
    root = params["paths"]["embeddings"]
    return [d.replace("${paths.embeddings}", root).replace("${cluster.teacher}", params["cluster"]["teacher"])
            for d in STAGES[stage]["deps"]]


def covered(path: str, deps: list[str]) -> bool:
    """A dep is `path` itself or a folder above it."""
    return any(Path(path) == Path(d) or Path(d) in Path(path).parents for d in deps)


def teacher_names(teachers: list) -> list[str]:
    """`train.teachers` names, in either form (a name, or a {name, weight, loss} mapping)."""
    return [t if isinstance(t, str) else t["name"] for t in teachers]


PARAMS_FILES = ["params.yaml", "profiles/multi-teacher.yaml"]


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", PARAMS_FILES)
def test_train_depends_on_every_store_it_reads(name):
    params = load(name)
    root = params["paths"]["embeddings"]
    for stage in ("train", "train-single"):
        deps = filled_deps(stage, params)
        for teacher in teacher_names(params["train"]["teachers"]) + params["compare"]["single_teachers"]:
            assert covered(f"{root}/{teacher}/store.json", deps), f"{stage} reads {teacher}'s store"


@pytest.mark.parametrize("name", PARAMS_FILES)
def test_cluster_depends_on_every_store_it_clusters(name):
    params = load(name)
    root, cluster = params["paths"]["embeddings"], params["cluster"]
    for stage in ("cluster", "cluster-sweep"):
        deps = filled_deps(stage, params)
        for teacher in [cluster["teacher"], *cluster["joint_teachers"]]:
            assert covered(f"{root}/{teacher}/store.json", deps), f"{stage} clusters {teacher}'s store"


@pytest.mark.parametrize("name", PARAMS_FILES + ["profiles/audioset.yaml"])
def test_the_stores_are_outside_the_pointer_folder_dvc_hashes(name):
    paths = load(name)["paths"]
    stores, pointers = Path(paths["stores"]), Path(paths["embeddings"])
    assert stores != pointers and pointers not in stores.parents, f"{name}: paths.stores inside paths.embeddings"


def test_evaluate_waits_for_every_student_it_probes():
    for name in PARAMS_FILES:
        params = load(name)
        deps = [d.replace("${paths.students}", params["paths"]["students"]) for d in STAGES["evaluate"]["deps"]]
        probed = params["evaluate"]["students"] + params["evaluate"]["supervised"]
        assert all(covered(f"{params['paths']['students']}/{s}", deps) for s in probed), name


def test_the_store_check_reads_both_forms():
    assert teacher_names(["aisfx", {"name": "crepe", "weight": 0.5}]) == ["aisfx", "crepe"]
