"""``temrobbench`` command line: one module per sub-command under ``temrobbench/commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# Each module defines ``add_parser(subparsers)`` which registers its sub-command and sets
# ``func(args) -> int`` as the handler.
COMMAND_MODULES: tuple[str, ...] = ("quickstart", "synth", "build", "push", "eval", "report", "reproduce")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="temrobbench",
        description="Build, publish and evaluate TemRobBench, the temporal-robustness benchmark for video LMMs.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"temrobbench.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"temrobbench.commands.{name}":
                continue  # a sub-command not shipped in this build
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
