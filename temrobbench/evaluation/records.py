"""Evaluation records streamed to ``records.jsonl``: resumable, never duplicated, never lost.

Each line is one query's record, written and flushed (and fsynced) as soon as it is known. On
resume a torn last line (a run killed mid-write) is cut off, and queries already recorded are
skipped, so a rerun ends with exactly the records of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from temrobbench.utils.files import JsonlAppender, read_jsonl_lines

RecordKey = tuple[str, str, int]


def record_key(record: dict[str, Any]) -> RecordKey:
    return (record["item_id"], record["setting"], int(record["round"]))


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of a file, the last one kept for each key; a torn last line is ignored."""
    latest: dict[RecordKey, dict] = {record_key(record): record for record in read_jsonl_lines(path)}
    return list(latest.values())


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
    """Appends records to a jsonl file, first truncating a torn last line if a run died mid-write."""

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.write(record)


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
