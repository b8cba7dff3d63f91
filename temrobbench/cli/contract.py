"""The failure contract of the command line (docs/cli.md, "The contract"), in one place for both console scripts.

A user or environment problem is one line on stderr, ``error: <what> (<subject>): <what to do>``,
and an exit status: 2 when the invocation or set-up must change (a path, a flag value, a missing
extra, key or token), 1 when the run itself failed (a server or the Hub unreachable, nothing
succeeded), 130 on Ctrl-C. ``--debug`` or ``TEMROBBENCH_DEBUG=1`` shows the traceback instead.

Here: :func:`run_cli` (the wrapper both console scripts run through) and the argument parsers
whose errors are one line. The error type and exit codes are :mod:`temrobbench.utils.errors`
(library code raises them too); the commands' input checks are :mod:`temrobbench.cli.checks`.
Cheap to import (no torch, no datasets).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

# The exit codes are defined with UserError (every one carries its code); the contract is here.
from temrobbench.utils.errors import DEBUG_ENV, EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, UserError, as_user_error  # noqa: F401


# ----------------------------------------------------------------------------------------------
# The wrapper both console scripts run through
# ----------------------------------------------------------------------------------------------


def run_cli(main: Callable[[list[str]], int | None], argv: Sequence[str] | None, prog: str) -> int:
    """Run ``main(argv)`` under the failure contract; returns the exit status (never raises,
    except SystemExit from ``--help``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    try:
        return int(main(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"interrupted ({prog}): finished work is kept; rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - the whole point: one line instead of a traceback
        if debug:
            raise
        user = as_user_error(err)
        from temrobbench.utils.redaction import redact

        print(redact(user.line()), file=sys.stderr)  # a server's error text may quote a key
        return user.exit_code


# ----------------------------------------------------------------------------------------------
# Argument parsing: one-line usage errors, defaults in --help
# ----------------------------------------------------------------------------------------------


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` for every option that has a default (None and flags left quiet)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "%(default)" in help_text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return help_text
        return f"{help_text} (default: %(default)s)".strip()

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            action.help = " "  # so that the default is shown even without a help text
        return super()._format_action(action)


def usage_error(parser: argparse.ArgumentParser, message: str) -> UserError:
    return UserError(message, parser.prog, f"see `{parser.prog} --help`")


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one :class:`UserError` line and whose help shows defaults."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        raise usage_error(self, message)


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make an existing parser (e.g. transformers' HfArgumentParser) raise one-line errors."""
    parser.error = lambda message: (_ for _ in ()).throw(usage_error(parser, message))  # type: ignore[method-assign]
    return parser
