"""The `ssondo` command group: every stage module present is listed with its one-line help."""
from __future__ import annotations

import importlib.util
import re

from click.testing import CliRunner

from stages.cli import COMMANDS, main


def _present() -> list[str]:
    return [name for name, module in COMMANDS.items() if importlib.util.find_spec(f"stages.{module}") is not None]


def _listed(output: str) -> dict[str, str]:
    """Command name -> its help line, from the `Commands:` block of --help."""
    block = output.split("Commands:\n", 1)[1]
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^  (\S+)\s+(.*)$", block, re.M)}


def test_help_lists_every_present_stage_with_one_line_help():
    result = CliRunner().invoke(main, ["--help"], prog_name="ssondo")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ssondo ")
    listed = _listed(result.output)
    present = _present()
    assert "prepare" in present
    assert list(listed) == present  # registry order, and absent modules are not offered
    for name, help_line in listed.items():
        assert len(help_line) > 10, f"{name} has no help"


def test_stage_help_and_unknown_command():
    result = CliRunner().invoke(main, ["prepare", "--help"], prog_name="ssondo")
    assert result.exit_code == 0
    for option in ("--params", "--input", "--output", "--workers"):
        assert option in result.output
    result = CliRunner().invoke(main, ["prepair"], prog_name="ssondo")
    assert result.exit_code == 2 and "No such command 'prepair'" in result.output
