"""Failures a user can fix, as one line: ``error: <what> (<subject>): <what to do>``.

Library code raises :class:`UserError` (and :func:`missing_extra` for an optional package that is
not installed); the command line (:mod:`temrobbench.cli.contract`) prints its line and exits with
its ``exit_code``: 2 (``EXIT_USAGE``) when the invocation or set-up must change, 1
(``EXIT_RUNTIME``) when the run itself failed, 130 (``EXIT_INTERRUPTED``) on Ctrl-C. The exit
codes live here because every UserError carries one. :func:`as_user_error` turns well-known
environment failures (OpenAI client, the Hub) into such a line.

Cheap to import: standard library only.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Iterable

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
