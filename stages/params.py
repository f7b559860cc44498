"""Reading params.yaml at the stage boundary (the library never reads it)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import torch
import yaml

from pipeline.audio.config import AudioConfig
from pipeline.config import ConfigError, parse

params_option = click.option("--params", "params_file", default="params.yaml", show_default=True,
                             type=click.Path(dir_okay=False), help="YAML file with the stage sections.")


def read_params(path: str | Path) -> dict[str, Any]:
    """Load the params file as a dict (missing file -> a clear error)."""
    path = Path(path)
    if not path.exists():
        raise click.ClickException(f"params file {path} not found (run from the project root or pass --params)")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise click.ClickException(f"params file {path} must hold a mapping of sections")
    return data


def section(params: dict, name: str, **overrides: Any) -> dict:
    """`params[name]` with CLI overrides applied (None means "not given")."""
    raw = params.get(name) or {}
    if not isinstance(raw, dict):
        raise click.ClickException(f"params section `{name}` must be a mapping, got {type(raw).__name__}")
    data = dict(raw)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return data


def audio_config(params: dict) -> AudioConfig:
    """The `audio` section, typed (its dataclass holds the only defaults); a bad value is a click error."""
    try:
        return parse(AudioConfig, section(params, "audio"), "audio")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def set_threads(params: dict) -> None:
    """Apply `base.num_threads` deliberately (0 = leave torch's default)."""
    n = section(params, "base").get("num_threads", 0) or 0
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise click.ClickException(f"base.num_threads: expected an integer >= 0, got {n!r}")
    if n > 0:
        torch.set_num_threads(n)


def write_json(path: str | Path, data: dict) -> None:
    """Write metrics/report JSON with stable formatting."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
