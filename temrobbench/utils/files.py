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
    that do not parse are skipped, never raised.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> with JsonlAppender(path) as out:
    ...     out.write({"id": 1})
    >>> _ = open(path, "a").write('{"id": 2')  # a killed writer
    >>> [r["id"] for r in read_jsonl_lines(path)]
    [1]
    """
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn write of a killed run
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


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
