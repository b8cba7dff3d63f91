"""Files that are never half-written: atomic replacement, and append-only JSON lines that a
killed run leaves resumable. The base layer both packages use (builds, evaluation records, the
preference-data caches of ``panodpo prepare``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

# File suffixes of media, in one place (standard library: CLI checks use them before any heavy import).
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")
FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + FRAME_EXTENSIONS


class atomic_path:
    """Context manager yielding a temporary path in the target's folder, renamed onto the target
    on success and removed on failure, so a half-written file never carries the final name."""

    def __init__(self, target: str | os.PathLike) -> None:
        self.target = Path(target)

    def __enter__(self) -> str:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=".partial-", suffix=self.target.suffix, dir=self.target.parent)
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.chmod(self.tmp, 0o644)  # mkstemp makes files private; outputs are meant to be shared
            os.replace(self.tmp, self.target)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)


def truncate_torn_tail(path: str | os.PathLike) -> None:
    """Cut a last line that a killed writer left unfinished, so appends stay line-aligned."""
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with open(path, "r+b") as f:
            f.truncate(end)


def read_jsonl_lines(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The complete lines of a JSON-lines file, parsed; a torn last line (no newline) and lines
    that do not parse (or do not decode as UTF-8) are skipped, never raised.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> with JsonlAppender(path) as out:
    ...     out.write({"id": 1})
    >>> _ = open(path, "ab").write(b'{"id": "\\xff"}\\n{"id": 3}\\n{"id": 2')  # a bad byte; a killed writer
    >>> [r["id"] for r in read_jsonl_lines(path)]
    [1, 3]
    """
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # torn write of a killed run
            try:
                yield json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue  # a damaged line (a bad byte, a torn write in the middle): asked again


class JsonlAppender:
    """Appends JSON lines, each flushed and fsynced as written, after truncating a torn last line
    a killed run left behind."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        truncate_torn_tail(self.path)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ----------------------------------------------------------------------------------------------
# One writer per output folder
# ----------------------------------------------------------------------------------------------

LOCK_NAME = ".lock"


class FolderBusyError(RuntimeError):
    """Another live process holds the folder's write lock (``holder`` says which, when known)."""

    def __init__(self, folder: Path, holder: str) -> None:
        super().__init__(f"{folder} is being written by another run ({holder})")
        self.folder, self.holder = folder, holder


class exclusive_lock:
    """An exclusive, non-blocking ``flock`` on ``<folder>/.lock`` for the whole run.

    The kernel drops a ``flock`` when its holder dies, so a run killed with SIGKILL never leaves
    a stale lock behind: the file may stay, but the next run takes it at once. The file holds the
    holder's pid and command line, only to name it in the error of a second writer.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with exclusive_lock(folder, "demo"):
    ...     try:
    ...         exclusive_lock(folder, "second").__enter__()
    ...     except FolderBusyError as err:
    ...         print("busy:", "demo" in err.holder)
    busy: True
    """

    def __init__(self, folder: str | os.PathLike, command: str) -> None:
        self.folder, self.command = Path(folder), command
        self._fd: int | None = None

    def __enter__(self) -> "exclusive_lock":
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "pid unknown"
            os.close(fd)
            raise FolderBusyError(self.folder, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {self.command}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def remove_partials(folder: str | os.PathLike) -> int:
    """Delete the half-written files (:class:`atomic_path`'s ``.partial-*`` temporaries) a killed
    run left anywhere under ``folder``; returns how many. They never carry a final name, so
    nothing reads them, but each can be a whole shard's size. Call it only while holding the
    folder's :class:`exclusive_lock`: a live writer's temporary would vanish before its rename.

    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, ".partial-abc.parquet"), "w").write("torn")
    >>> remove_partials(folder), os.listdir(folder)
    (1, [])
    """
    removed = 0
    for partial in Path(folder).rglob(".partial-*"):
        if partial.is_file():
            partial.unlink()
            removed += 1
    return removed


# ----------------------------------------------------------------------------------------------
# Paths that come from data stay under their root
# ----------------------------------------------------------------------------------------------


def contained_path(root: str | os.PathLike, relative: str | os.PathLike) -> Path | None:
    """``root / relative`` when it resolves (``..``, absolute paths and symlinks followed) to a
    path inside ``root``; None when it would leave it. Nothing is read or created.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> contained_path(root, "a/b.mp4") is not None, contained_path(root, "../secret.mp4"), contained_path(root, "/etc/passwd")
    (True, None, None)
    """
    text = os.fspath(relative)
    if not text or "\x00" in text:
        return None
    base = Path(root).resolve()
    candidate = (base / text).resolve()  # an absolute ``relative`` replaces ``base`` here: caught below
    if candidate != base and base not in candidate.parents:
        return None
    return base / text


# ----------------------------------------------------------------------------------------------
# Text files with bad bytes: a bad line is a skipped line, not a crash
# ----------------------------------------------------------------------------------------------


def iter_text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str | None, str | None]]:
    """``(line number, text, problem)`` for each line of a UTF-8 file read as bytes: a line that
    does not decode gives ``text=None`` and the problem, so readers skip it with its file:line
    instead of aborting the whole file at the first bad byte.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> _ = open(path, "wb").write(b'{"a": 1}\\n{"b": "\\xff"}\\n')
    >>> [(n, t is None) for n, t, _ in iter_text_lines(path)]
    [(1, False), (2, True)]
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                yield number, raw.decode("utf-8"), None
            except UnicodeDecodeError as err:
                yield number, None, f"not UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})"
