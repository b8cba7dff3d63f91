"""Read ShareGPTVideo-DPO rows (``id``, ``video``, ``prompt``, ``chosen``, ``rejected``, optional
``answer`` and scores) and check each one, reporting bad rows by id instead of failing."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

REQUIRED_FIELDS = ("id", "video", "prompt", "chosen", "rejected")
VIDEO_PLACEHOLDER = "<video>"


def clean_prompt(prompt: str) -> str:
    """The question without ShareGPTVideo's ``<video>`` placeholder (the video goes in as content).

    Here, not in the collator, so preparing data needs no training packages.

    >>> clean_prompt("<video>\\nWhat happens first?")
    'What happens first?'
    """
    return prompt.replace(VIDEO_PLACEHOLDER, "").strip()
SCORE_FIELDS = ("chosen_score", "rejected_score")


@dataclass
class DpoRow:
    id: str
    video: str  # relative to the media folder: a video file or a folder of frames
    prompt: str
    chosen: str
    rejected: str
    answer: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class RowProblem:
    row_id: str
    reason: str  # counted in prepare_report.json
    message: str


def _text(value: Any) -> str:
    if isinstance(value, list):  # chat messages
        return "".join(m.get("content", "") if isinstance(m.get("content"), str) else "" for m in value if isinstance(m, dict))
    return value if isinstance(value, str) else ""


def media_problem(media: Path) -> str | None:
    """Why a row's video cannot be used (None when it can), from its container header or its
    folder listing only: cheap enough for every row, and it keeps a broken file from failing a
    training run hours later, or costing a misleading-question request."""
    from temrobbench.build.video_io import VideoDecodeError, probe_video

    from panodpo.media import frame_files

    if media.is_dir():
        return None if frame_files(media) else f"{media}: no frame images"
    try:
        probe_video(media)
    except VideoDecodeError as err:
        return str(err)
    return None


def read_rows(path: str | os.PathLike, media_root: str | os.PathLike) -> Iterator[DpoRow | RowProblem]:
    """Each line of a jsonl file as a :class:`DpoRow`, or a :class:`RowProblem` naming the row and field."""
    path, media_root = Path(path), Path(media_root)
    seen: set[str] = set()
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as err:
                yield RowProblem(f"line {line_number}", "bad_json", f"{where}: not JSON ({err.msg})")
                continue
            if not isinstance(raw, dict):
                yield RowProblem(f"line {line_number}", "bad_json", f"{where}: not a JSON object")
                continue
            row_id = str(raw.get("id", f"line {line_number}"))
            missing = [name for name in REQUIRED_FIELDS if raw.get(name) in (None, "")]
            if missing:
                yield RowProblem(row_id, "missing_field", f"{where}: row {row_id!r} has no {', '.join(missing)}")
                continue
            if row_id in seen:
                yield RowProblem(row_id, "duplicate_id", f"{where}: row id {row_id!r} appears twice; the first is kept")
                continue
            chosen, rejected = _text(raw["chosen"]).strip(), _text(raw["rejected"]).strip()
            empty = [name for name, value in (("chosen", chosen), ("rejected", rejected)) if not value]
            if empty:
                yield RowProblem(row_id, "empty_response", f"{where}: row {row_id!r} has an empty {', '.join(empty)}")
                continue
            video = str(raw["video"])
            media = media_root / video
            if not media.exists():
                yield RowProblem(row_id, "missing_media", f"{where}: row {row_id!r}: video {video!r} not found under {media_root}")
                continue
            problem = media_problem(media)
            if problem:
                yield RowProblem(row_id, "unreadable_media", f"{where}: row {row_id!r}: {problem}")
                continue
            seen.add(row_id)
            yield DpoRow(
                id=row_id, video=video, prompt=_text(raw["prompt"]), chosen=chosen, rejected=rejected,
                answer=_text(raw.get("answer")) or None, scores={k: raw.get(k) for k in SCORE_FIELDS if k in raw},
            )
