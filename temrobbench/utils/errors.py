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

import contextlib
import errno
import importlib.util
import os
import re
from pathlib import Path
from typing import Iterable, Iterator

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
    from temrobbench.utils.files import FolderBusyError

    if isinstance(err, FolderBusyError):
        return UserError(f"another run is writing into this folder ({err.holder})", err.folder,
                         "wait for it to finish, or stop it, then rerun (finished work is kept)", EXIT_RUNTIME)
    environment = environment_error(err)
    if environment is not None:
        return environment
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


# errno -> (what happened, what to do): failures of the machine, not of the program.
_ENVIRONMENT_ERRNOS = {
    errno.EACCES: ("permission denied", "choose a location you can write to (or read, for an input), or fix its permissions"),
    errno.EPERM: ("operation not permitted", "choose a location you can write to, or fix its permissions"),
    errno.EROFS: ("read-only file system", "choose an output folder on a writable file system"),
    errno.ENOSPC: ("no space left on the device", "free some space (or choose a folder on another disk) and rerun: finished work is kept"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or raise the quota, and rerun: finished work is kept"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) and rerun"),
    errno.ENAMETOOLONG: ("file name too long", "choose a shorter output path"),
    errno.EIO: ("input/output error", "check the disk, then rerun"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
    errno.EISDIR: ("is a folder, not a file", "check the path"),
    errno.ELOOP: ("too many levels of symbolic links", "check the path and its symlinks"),
}


class UnreadableDataFile(Exception):
    """A data file of an earlier run (a Parquet shard of a built benchmark) that cannot be read:
    truncated, overwritten, or its contents point outside their folder. Deliberately neither a
    ValueError nor an OSError, so that no command's handler of bad arguments takes it for one."""

    def __init__(self, path: str | os.PathLike, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path, self.detail = os.fspath(path), detail


@contextlib.contextmanager
def naming_path(path: str | os.PathLike) -> Iterator[None]:
    """Give an OSError raised without a file name (pyarrow's writers raise ENOSPC so) the path
    being written, so that its one line names it.

    >>> try:
    ...     with naming_path("/out/data/x.parquet"):
    ...         raise OSError(errno.ENOSPC, "Error writing bytes to file")
    ... except OSError as err:
    ...     print(as_user_error(err).line())
    error: no space left on the device (/out/data/x.parquet): free some space (or choose a folder on another disk) and rerun: finished work is kept
    """
    try:
        yield
    except OSError as err:
        if err.filename is None and err.errno is not None:
            raise OSError(err.errno, err.strerror or str(err), os.fspath(path)) from err
        raise


def _subject_path(filename: str | os.PathLike) -> str:
    """The path a user should look at: a temporary ``.partial-*`` file (see files.atomic_path)
    is gone after the failure, so its folder is named instead."""
    path = Path(os.fsdecode(filename))
    return str(path.parent) if path.name.startswith(".partial-") else str(path)


def environment_error(err: BaseException) -> UserError | None:
    """The one line for a failure of the machine rather than the program (permissions, a full or
    read-only disk, a truncated data file), naming the path; None for anything else."""
    for cause in _chain(err):
        if isinstance(cause, UnreadableDataFile):
            return UserError(f"unreadable data file: {cause.detail}", cause.path,
                             "rerun the command that wrote it (a build resumes and rewrites its shards), or download it again", EXIT_RUNTIME)
        if isinstance(cause, OSError) and cause.errno in _ENVIRONMENT_ERRNOS:
            what, hint = _ENVIRONMENT_ERRNOS[cause.errno]
            filename = cause.filename or _first_quoted(str(cause))
            return UserError(what, _subject_path(filename) if filename else None, hint, EXIT_RUNTIME)
        names = _class_names(cause)
        text = str(cause)
        if names & {"ArrowInvalid", "ArrowIOError"} and any(k in text for k in ("Parquet", "parquet", "magic bytes", "footer")):
            return UserError("unreadable Parquet file (truncated or not Parquet)", _path_in(text),
                             "rebuild it (rerun the command that wrote it, with --overwrite if needed)", EXIT_RUNTIME)
    return None


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _path_in(text: str) -> str | None:
    match = re.search(r"(/[^\s'\":]+\.parquet)", text) or re.search(r"'([^']+)'", text)
    return match.group(1) if match else None


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
