"""``temrobbench`` command line: one module per sub-command under ``temrobbench/commands``, plus
the sub-commands other installed packages register under the ``temrobbench.commands`` entry-point
group (``panodpo`` adds ``reproduce``): this package never imports them by name."""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points
from typing import Sequence

from temrobbench.cli.contract import CliParser, run_cli

# Each module defines ``add_parser(subparsers)`` which registers its sub-command and sets
# ``func(args) -> int`` as the handler.
COMMAND_MODULES: tuple[str, ...] = ("quickstart", "synth", "build", "push", "eval", "report", "lmms_eval_path")
PLUGIN_GROUP = "temrobbench.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="temrobbench",
        description="Build, publish and evaluate TemRobBench, the temporal-robustness benchmark for video LMMs.",
        epilog="Failures print one line and exit 2 (fix the invocation) or 1 (the run failed); --debug (or TEMROBBENCH_DEBUG=1) shows tracebacks.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"temrobbench.cli.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"temrobbench.cli.commands.{name}":
                continue  # a sub-command not shipped in this build
            raise
        module.add_parser(subparsers)
    for entry_point in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        entry_point.load()(subparsers)  # ``add_parser(subparsers)`` of another package's command
    return parser


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``temrobbench`` console script: returns the exit status (docs/cli.md, "The contract")."""
    return run_cli(_main, argv, "temrobbench")

