"""The `ssondo` command: one subcommand per pipeline stage."""
from __future__ import annotations

import importlib
import importlib.util

import click

# subcommand name -> module under stages/ exposing a click command `main`
COMMANDS = {
    "demo-corpus": "demo_corpus",
    "prepare": "prepare",
    "embed": "embed",
    "store": "store",
    "cluster": "cluster",
    "train": "train",
    "evaluate": "evaluate",
    "export": "export",
    "embed-audio": "embed_audio",
}


class LazyGroup(click.Group):
    """Imports a stage module only when its command runs (keeps `ssondo --help` fast)."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        if importlib.util.find_spec(f"stages.{COMMANDS[name]}") is None:
            return None
        return importlib.import_module(f"stages.{COMMANDS[name]}").main


@click.group(cls=LazyGroup)
def main() -> None:
    """ssondo: distil audio foundation models into tiny students from cached teacher embeddings."""


if __name__ == "__main__":
    main()
