"""The `ssondo` command: one subcommand per pipeline stage."""
from __future__ import annotations

import importlib
import importlib.util
import os

import click

from pipeline import stage_profile

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
    "profile": "profile",
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

    def parse_args(self, ctx, args):
        """Also note which subcommand runs (the group has no options of its own: the first word names it)."""
        ctx.meta["ssondo.command"] = next((a for a in args if not a.startswith("-")), None)
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        """Run the subcommand; under `dvc repro` (DVC_STAGE set), log its wall and CPU time for the profile."""
        stage, root = os.environ.get("DVC_STAGE"), os.environ.get("DVC_ROOT")
        if not stage or not root or ctx.meta.get("ssondo.command") == "profile":
            return super().invoke(ctx)
        watch = stage_profile.Stopwatch()
        try:
            result = super().invoke(ctx)
        except BaseException as exc:  # click ends a command with Exit(0) as well as with errors
            ok = exit_status(exc) == 0
            stage_profile.append(stage_profile.log_dir(root), watch.timing(stage, ok))
            raise
        stage_profile.append(stage_profile.log_dir(root), watch.timing(stage, True))
        return result


def exit_status(exc: BaseException) -> int | str | None:
    """The exit status an exception ends the command with: 0 for a clean click/sys exit, 1 for an error."""
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, SystemExit):
        return exc.code or 0
    return 1


@click.group(cls=LazyGroup)
def main() -> None:
    """ssondo: distil audio foundation models into tiny students from cached teacher embeddings."""


if __name__ == "__main__":
    main()
