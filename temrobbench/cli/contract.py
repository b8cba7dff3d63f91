"""The failure contract of the command line (README "Failures"), in one place for both console scripts.

A user or environment problem is one line on stderr, ``error: <what> (<subject>): <what to do>``,
and an exit status: 2 when the invocation or set-up must change (a path, a flag value, a missing
extra, key or token), 1 when the run itself failed (a server or the Hub unreachable, nothing
succeeded), 130 on Ctrl-C. ``--debug`` or ``TEMROBBENCH_DEBUG=1`` shows the traceback instead.

Everything here is cheap to import (no torch, no datasets): commands validate their inputs with
these helpers before importing anything heavy or making any folder.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import re
import shutil
import socket
import sys
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence
from urllib.parse import urlparse

EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEBUG_ENV = "TEMROBBENCH_DEBUG"

# Optional packages -> the extra that installs them (setup.cfg [options.extras_require]).
EXTRAS = {"trl": "train", "peft": "train", "accelerate": "train", "openai": "openai", "matplotlib": "plots"}


class UserError(Exception):
    """A failure the user can fix; ``line()`` is all they see."""

    def __init__(self, what: str, subject: object = None, hint: str | None = None, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(what)
        self.what, self.subject, self.hint, self.exit_code = what, subject, hint, exit_code

    def line(self) -> str:
        """``error: <what> (<subject>): <hint>`` on one line.

        >>> UserError("no such folder", "--videos ./v", "give the folder of COIN videos").line()
        'error: no such folder (--videos ./v): give the folder of COIN videos'
        """
        text = f"error: {self.what}"
        if self.subject not in (None, ""):
            text += f" ({self.subject})"
        if self.hint:
            text += f": {self.hint}"
        return " ".join(text.split())  # one line, whatever the messages held

    def __str__(self) -> str:
        return self.line()[len("error: ") :]


def missing_extra(package: str, feature: str, exit_code: int = EXIT_USAGE) -> UserError:
    extra = EXTRAS.get(package, "dev")
    return UserError(f"{feature} needs the optional package {package!r}, which is not installed", package, f"pip install 'temrobbench[{extra}]'", exit_code)


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
        print(user.line(), file=sys.stderr)
        return user.exit_code


def _class_names(err: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(err).__mro__}


def as_user_error(err: BaseException) -> UserError:
    """``err`` as the one line a user sees: well-known environment failures get their cause and
    remedy; anything else is named as unexpected, with the way to see the traceback."""
    if isinstance(err, UserError):
        return err
    names = _class_names(err)
    if isinstance(err, ImportError) and (err.name or "").split(".")[0] in EXTRAS:
        return missing_extra(err.name.split(".")[0], "this command")
    module = type(err).__module__ or ""
    if module.startswith("openai"):
        request = getattr(err, "request", None)
        url = str(getattr(request, "url", "") or "") or None
        if "AuthenticationError" in names:
            return UserError(f"the server refused the API key ({type(err).__name__})", url, "set OPENAI_API_KEY to a valid key")
        if "APIConnectionError" in names:
            return UserError(f"cannot reach the OpenAI-compatible server ({type(err).__name__})", url, "start the server or fix the URL", EXIT_RUNTIME)
        return UserError(f"the OpenAI-compatible server failed: {type(err).__name__}: {err}", url, "check the server and rerun (finished work is kept)", EXIT_RUNTIME)
    if names & {"RepositoryNotFoundError", "DatasetNotFoundError", "GatedRepoError", "RevisionNotFoundError"}:
        return UserError(f"not found on the Hugging Face Hub, or not accessible ({type(err).__name__})", _first_quoted(str(err)),
                         "check the id, or log in with `hf auth login` for a private or gated repository")
    if names & {"OfflineModeIsEnabled", "LocalEntryNotFoundError"}:
        return UserError(f"not a local folder, and the Hugging Face Hub is unreachable ({type(err).__name__})", _first_quoted(str(err)),
                         "give a local folder, or connect (unset HF_HUB_OFFLINE) and rerun", EXIT_RUNTIME)
    if names & {"ConnectError", "ConnectionError", "ConnectTimeout"} and "huggingface" in str(err).lower():
        return UserError(f"the Hugging Face Hub is unreachable ({type(err).__name__})", None, "connect, or give a local folder", EXIT_RUNTIME)
    first_line = (str(err).strip().splitlines() or [""])[0]
    return UserError(f"unexpected {type(err).__name__}: {first_line}", None,
                     f"rerun with --debug (or {DEBUG_ENV}=1) for the traceback, and report it if it is a bug", EXIT_RUNTIME)


def _first_quoted(text: str) -> str | None:
    match = re.search(r"'([^']+)'", text)
    return match.group(1) if match else None


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


# ----------------------------------------------------------------------------------------------
# Validation helpers shared by every command
# ----------------------------------------------------------------------------------------------


def at_least(value: float | None, minimum: float, flag: str, hint: str | None = None) -> None:
    """Refuse ``value < minimum`` up front (None passes: the option was not given)."""
    if value is not None and value < minimum:
        raise UserError(f"must be at least {minimum}, not {value}", flag, hint or f"give {flag} {minimum} or more")


def in_range(value: float, low: float, high: float, flag: str) -> None:
    if not low <= value <= high:
        raise UserError(f"must be between {low} and {high}, not {value}", flag, f"give {flag} in [{low}, {high}]")


def existing_file(path: str | os.PathLike, flag: str, hint: str | None = None) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError("is a folder, not a file", f"{flag} {path}", hint or "give the file itself")
    if not path.is_file():
        raise UserError("no such file", f"{flag} {path}", hint or "check the path")
    return path


def existing_dir(path: str | os.PathLike, flag: str, hint: str | None = None) -> Path:
    path = Path(path).expanduser()
    if path.is_file():
        raise UserError("is a file, not a folder", f"{flag} {path}", hint or "give the folder")
    if not path.is_dir():
        raise UserError("no such folder", f"{flag} {path}", hint or "check the path")
    return path


def find_media(folder: Path, suffixes: Iterable[str], limit: int = 100_000) -> Path | None:
    """The first file under ``folder`` with one of ``suffixes`` (case-insensitive), or None."""
    wanted = tuple(s.lower() for s in suffixes)
    for seen, path in enumerate(folder.rglob("*")):
        if seen >= limit:
            return None
        if path.suffix.lower() in wanted and path.is_file():
            return path
    return None


def _is_empty(folder: Path) -> bool:
    return not any(folder.iterdir())


def check_output_dir(path: str | os.PathLike, flag: str, markers: Sequence[str], overwrite: bool = False, what: str = "this command") -> Path:
    """Refuse to write into a non-empty folder that is not ``what``'s own earlier output.

    ``markers`` are glob patterns (relative to the folder) of which any one marks the folder as
    this command's own output (a build state, a records file): writing there resumes. An empty
    or absent folder is fine; anything else needs ``--overwrite``.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError("exists and is a file, not a folder", f"{flag} {path}", "give a new or empty folder")
    if not path.exists() or overwrite or _is_empty(path):
        return path
    if any(next(iter(path.glob(pattern)), None) is not None for pattern in markers):
        return path
    raise UserError(f"folder is not empty and is not an earlier output of {what}", f"{flag} {path}",
                    "give a new or empty folder, or pass --overwrite to write into it anyway")


@contextlib.contextmanager
def no_empty_folder_left(path: str | os.PathLike) -> Iterator[None]:
    """On a failure, remove ``path`` again if this command made it and it holds no file yet."""
    path = Path(path)
    existed = path.exists()
    try:
        yield
    except BaseException:
        if not existed and path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
            shutil.rmtree(path, ignore_errors=True)
        raise


def has_module(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def require_extra(packages: Iterable[str], feature: str) -> None:
    for package in packages:
        if not has_module(package):
            raise missing_extra(package, feature)


def most_common_cause(messages: Iterable[str | None]) -> tuple[str, int, int] | None:
    """(message, its count, total) of the commonest non-empty message.

    >>> most_common_cause(["APIConnectionError: x", "APIConnectionError: x", "Timeout"])
    ('APIConnectionError: x', 2, 3)
    """
    counts = Counter(m for m in messages if m)
    if not counts:
        return None
    message, count = counts.most_common(1)[0]
    return message, count, sum(counts.values())


# ----------------------------------------------------------------------------------------------
# Network: the Hub and OpenAI-compatible servers, checked before any work
# ----------------------------------------------------------------------------------------------


def unreachable_reason(url: str, timeout: float = 5.0) -> str | None:
    """None when a TCP connection to ``url``'s host and port opens, else why not."""
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if not parsed.hostname:
        return f"not a URL: {url!r}"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return None
    except OSError as err:
        reason = err.strerror or type(err).__name__
        return f"{reason.lower()} at {url}"


def check_server(base_url: str, flag: str) -> None:
    reason = unreachable_reason(base_url)
    if reason:
        raise UserError(f"cannot reach the OpenAI-compatible server: APIConnectionError: {reason}", f"{flag} {base_url}",
                        "start the server (e.g. vllm serve MODEL) or fix the URL", EXIT_RUNTIME)


def looks_like_path(value: str) -> bool:
    """Whether ``value`` is meant as a local path rather than a Hub id (``ORG/NAME`` or ``NAME``).

    >>> [looks_like_path(v) for v in ("ORG/NAME", "gpt2", "./model", "/data/x", "a/b/c", "~/m")]
    [False, False, True, True, True, True]
    """
    return value.startswith((".", "/", "~")) or "\\" in value or value.count("/") > 1 or value.endswith("/") or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", value)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _cached_on_hub(repo_id: str, repo_type: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        filename = "README.md" if repo_type == "dataset" else "config.json"
        return isinstance(try_to_load_from_cache(repo_id, filename, repo_type=repo_type), str)
    except Exception:  # noqa: BLE001 - a malformed id, an unreadable cache: not cached
        return False


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def check_hub_reachable(subject: str, hint: str) -> None:
    """Fail fast when the Hub cannot be reached (offline mode or no connection)."""
    if hub_offline():
        raise UserError("the Hugging Face Hub is unreachable: HF_HUB_OFFLINE=1 is set", subject, hint, EXIT_RUNTIME)
    reason = unreachable_reason(hub_endpoint())
    if reason:
        raise UserError(f"the Hugging Face Hub is unreachable: {reason}", subject, hint, EXIT_RUNTIME)


def check_local_or_hub(value: str, subject: str, repo_type: str, local_problem: Callable[[Path], tuple[str, str] | None] | None = None) -> str:
    """``value`` names a usable local folder, or a Hub id that can be fetched (or is cached).

    ``local_problem(folder)`` returns ``(what, hint)`` when an existing folder is not usable, else
    None. ``subject`` names the input in the message (e.g. ``--data ORG/NAME``). Returns ``"local"``
    or ``"hub"``.
    """
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError("is a file, not a folder", subject, "give a folder or a Hub id")
        problem = local_problem(path) if local_problem else None
        if problem:
            raise UserError(problem[0], subject, problem[1])
        return "local"
    if looks_like_path(value):
        raise UserError("no such folder", subject, "check the path (a Hub id reads ORG/NAME)")
    if _cached_on_hub(value, repo_type):
        return "hub"
    if hub_offline():
        raise UserError("not a local folder, and the Hugging Face Hub is unreachable: HF_HUB_OFFLINE=1 is set", subject,
                        "give a local folder, or unset HF_HUB_OFFLINE", EXIT_RUNTIME)
    reason = unreachable_reason(hub_endpoint())
    if reason:
        raise UserError(f"not a local folder, and the Hugging Face Hub is unreachable: {reason}", subject,
                        "give a local folder, or connect to the network", EXIT_RUNTIME)
    return "hub"


def check_model_source(argument: str, subject: str | None = None) -> None:
    """For ``hf:<id-or-path>``: a local model folder, or a Hub id that can be fetched."""

    def local_problem(folder: Path) -> tuple[str, str] | None:
        if not any((folder / name).is_file() for name in ("config.json", "adapter_config.json")):
            return "not a model folder (no config.json)", "give a folder saved with save_pretrained, or a Hub id"
        return None

    check_local_or_hub(argument, subject or f"hf:{argument}", "model", local_problem)
