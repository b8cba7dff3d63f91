"""Input checks every command runs before importing anything heavy or making any folder: numbers
in range, files and folders that exist, an output folder that is new, empty or this command's own
earlier output (docs/cli.md, "The contract"). Each failure is one :class:`~temrobbench.utils.errors.UserError`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from temrobbench.utils.errors import UserError
from temrobbench.utils.files import LOCK_NAME


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
    return not any(p.name != LOCK_NAME for p in folder.iterdir())


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
        if not existed and path.is_dir() and not any(p.is_file() and p.name != LOCK_NAME for p in path.rglob("*")):
            shutil.rmtree(path, ignore_errors=True)
        raise


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
