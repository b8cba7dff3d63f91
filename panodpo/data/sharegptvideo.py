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


def media_problem(media: Path, media_root: Path | None = None) -> str | None:
    """Why a row's video cannot be used (None when it can), from its container header or its
    folder listing only: cheap enough for every row, and it keeps a broken file from failing a
    training run hours later, or costing a perturber request. A frame file leading outside
    ``media_root`` raises :class:`~panodpo.media.MediaOutsideRoot` (nothing of it is read)."""
    from temrobbench.build.video_io import VideoDecodeError, probe_video

    from panodpo.media import frame_files

    if media.is_dir():
        return None if frame_files(media, media_root) else f"{media}: no frame images"
    try:
        probe_video(media)
    except VideoDecodeError as err:
        return str(err)
    return None


def read_rows(path: str | os.PathLike, media_root: str | os.PathLike) -> Iterator[DpoRow | RowProblem]:
    """Each line of a jsonl file as a :class:`DpoRow`, or a :class:`RowProblem` naming the row,
    its file:line and field. A line that is not UTF-8 is one ``bad_encoding`` problem, not the
    end of the file; a video that resolves outside ``media_root`` (``..``, an absolute path, a
    symlink, or a symlinked frame of a frames folder) is ``outside_media`` and is never read."""
    from temrobbench.utils.files import contained_path, iter_text_lines

    from panodpo.media import MediaOutsideRoot

    path, media_root = Path(path), Path(media_root)
    seen: set[str] = set()
    for line_number, line, encoding_problem in iter_text_lines(path):
        where = f"{path}:{line_number}"
        if line is None:
            yield RowProblem(f"line {line_number}", "bad_encoding", f"{where}: {encoding_problem}")
            continue
        if not line.strip():
            continue
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
        media = contained_path(media_root, video)
        if media is None:
            yield RowProblem(row_id, "outside_media", f"{where}: row {row_id!r}: video {video!r} leads outside {media_root}; not read")
            continue
        if not media.exists():
            yield RowProblem(row_id, "missing_media", f"{where}: row {row_id!r}: video {video!r} not found under {media_root}")
            continue
        try:
            problem = media_problem(media, media_root)
        except MediaOutsideRoot as err:
            yield RowProblem(row_id, "outside_media", f"{where}: row {row_id!r}: frame {err.path!r} leads outside {media_root}; not read")
            continue
        if problem:
            yield RowProblem(row_id, "unreadable_media", f"{where}: row {row_id!r}: {problem}")
            continue
        seen.add(row_id)
        yield DpoRow(
            id=row_id, video=video, prompt=_text(raw["prompt"]), chosen=chosen, rejected=rejected,
            answer=_text(raw.get("answer")) or None, scores={k: raw.get(k) for k in SCORE_FIELDS if k in raw},
        )


def read_captions(path: str | os.PathLike) -> tuple[dict[str, str], list[RowProblem]]:
    """``{id: caption}`` from a jsonl of ``{id, caption}``, and a ``bad_encoding`` problem (with
    its file:line) for each line that is not UTF-8, which is skipped. Raises ``ValueError`` naming
    the line for a line that is not such an object (the file is then not a captions file)."""
    from temrobbench.utils.files import iter_text_lines

    captions: dict[str, str] = {}
    problems: list[RowProblem] = []
    for number, line, encoding_problem in iter_text_lines(path):
        if line is None:
            problems.append(RowProblem(f"captions line {number}", "bad_encoding", f"{path}:{number}: {encoding_problem}"))
            continue
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            captions[str(entry["id"])] = entry["caption"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"line {number}: not a {{id, caption}} json line ({type(err).__name__})") from None
    return captions, problems
