"""Evaluation records streamed to ``records.jsonl``: resumable, never duplicated, never lost.

Each line is one query's record, written and flushed (and fsynced) as soon as it is known. On
resume a torn last line (a run killed mid-write) is cut off, and queries already recorded are
skipped, so a rerun ends with exactly the records of an uninterrupted run. A damaged line
elsewhere (not JSON, not UTF-8, not a record) is moved aside to ``records.damaged.jsonl`` by
:func:`repair_records` and its query runs again, so the file stays valid JSON lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

from temrobbench.utils.files import JsonlAppender, atomic_path, iter_text_lines

RecordKey = tuple[str, str, int]
#: Where :func:`repair_records` moves the lines of a record file that are not records.
DAMAGED_NAME = "records.damaged.jsonl"


@contextlib.contextmanager
def naming(path: str | os.PathLike) -> Iterator[None]:
    """Give an OSError raised inside the path it happened on, when it names none (a write or
    flush that hit a full disk names no file): the one line a user sees must say where."""
    try:
        yield
    except OSError as err:
        if err.filename is None and err.errno is not None:
            raise OSError(err.errno, err.strerror, os.fspath(path)) from err
        raise


def record_key(record: dict[str, Any]) -> RecordKey:
    return (record["item_id"], record["setting"], int(record["round"]))


def is_record(value: Any) -> bool:
    """Whether a parsed line is a record (has a usable key), not just any JSON value."""
    try:
        return (isinstance(value, dict) and all(isinstance(value[k], str) for k in ("item_id", "setting", "perturbation"))
                and bool(record_key(value)))
    except (KeyError, TypeError, ValueError):
        return False


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of a file, the last one kept for each key; a torn last line and lines that are
    not records are ignored (see :func:`repair_records`)."""
    if not Path(path).exists():
        return []
    # Read as bytes line by line: a line with bad bytes is skipped, not the end of the file.
    parsed = (_parse(text) for _, text, _ in iter_text_lines(path) if text is not None and text.endswith("\n"))
    latest: dict[RecordKey, dict] = {record_key(record): record for record in parsed if is_record(record)}
    return list(latest.values())


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def repair_records(path: str | os.PathLike) -> list[int]:
    """Move every complete line of ``path`` that is not a record to ``records.damaged.jsonl``
    beside it (appended, with its file and line number), rewrite ``path`` atomically with the
    valid lines only, and say so in one stderr line. Returns the damaged line numbers (none: the
    file is left as it is; a torn last line is left to :class:`RecordWriter`, which cuts it)."""
    path = Path(path)
    if not path.exists():
        return []
    good: list[str] = []
    damaged: list[dict[str, Any]] = []
    for number, text, problem in iter_text_lines(path):
        if text is not None and not text.endswith("\n"):
            break  # the torn write of a killed run: cut, not damage
        value = _parse(text) if text is not None else None
        if text is not None and is_record(value):
            good.append(text)
            continue
        raw = text if text is not None else "(not UTF-8)"
        damaged.append({"file": path.name, "line": number, "problem": problem or ("not a record" if value is not None else "not JSON"),
                        "text": raw.rstrip("\n")[:10_000]})
    if not damaged:
        return []
    with naming(path.parent / DAMAGED_NAME), JsonlAppender(path.parent / DAMAGED_NAME) as aside:
        for entry in damaged:
            aside.write(entry)
    with naming(path), atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(good)
            f.flush()
            os.fsync(f.fileno())
    numbers = [entry["line"] for entry in damaged]
    shown = ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")
    print(f"{path}: {len(numbers)} damaged line{'s' if len(numbers) > 1 else ''} ({shown}) moved to {path.parent / DAMAGED_NAME}; "
          f"{'their queries run' if len(numbers) > 1 else 'its query runs'} again", file=sys.stderr)
    return numbers


def read_all_records(output_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of ``records.jsonl`` plus those of per-rank files of a sharded run."""
    output_dir = Path(output_dir)
    merged: dict[RecordKey, dict] = {}
    for path in [output_dir / "records.jsonl", *sorted(output_dir.glob("records.rank*.jsonl"))]:
        for record in read_records(path):
            key = record_key(record)
            # A query that failed in one file and succeeded in another (a rerun under another
            # world size retried it) counts with its answer.
            if key not in merged or (merged[key].get("error") and not record.get("error")):
                merged[key] = record
    return sorted(merged.values(), key=lambda r: (r["perturbation"], r["item_id"], r["setting"] != "clean", r["round"]))


class RecordWriter(JsonlAppender):
    """Appends records to a jsonl file, first truncating a torn last line if a run died mid-write;
    a failed write (a full disk) names the file."""

    def __init__(self, path: str | os.PathLike) -> None:
        with naming(path):
            super().__init__(path)

    def write(self, record: dict[str, Any]) -> None:
        with naming(self.path):
            super().write(record)

    def close(self) -> None:
        with naming(self.path):
            super().close()

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.write(record)


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
