"""The layout block at the top of the README names exactly the folders and shared modules on disk."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout_block() -> list[str]:
    """The lines of the README's first code block under `## Layout`."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Layout", 1)[1]
    return section.split("```", 2)[1].strip("\n").splitlines()


def named(lines: list[str], indented: bool) -> set[str]:
    """Folder (`x/`) and module (`x.py`) names before the description, at top level or indented under pipeline/."""
    names = set()
    for line in lines:
        if line.startswith("  ") != indented:
            continue
        head = re.split(r"\s{2,}", line.strip())[0]  # names are separated by one space, descriptions by two
        names.update(n for n in head.split() if n.endswith(("/", ".py", ".yaml")))
    return names


def test_top_level_entries_are_the_tracked_folders_and_files():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    folders = {f"{p.split('/')[0]}/" for p in tracked.split() if "/" in p and not p.startswith(".")}
    listed = named(layout_block(), indented=False)
    assert folders | {"cache/"} == {n for n in listed if n.endswith("/")}
    assert {"dvc.yaml", "params.yaml"} <= listed


def test_pipeline_entries_are_its_packages_and_modules():
    on_disk = {f"{p.name}/" for p in (ROOT / "pipeline").iterdir() if (p / "__init__.py").is_file()}
    on_disk |= {p.name for p in (ROOT / "pipeline").glob("*.py") if p.name != "__init__.py"}
    assert named(layout_block(), indented=True) == on_disk
