"""Read and validate COIN annotations (``COIN.json``) into typed records.

COIN.json looks like ``{"database": {youtube_id: {"duration", "class", "recipe_type", "subset",
"annotation": [{"id", "segment": [start, end], "label"}]}}}``. A malformed file as a whole raises
:class:`CoinFormatError`; a malformed video entry becomes a :class:`VideoProblem` that names the
video id and the field, so one bad entry never stops a build. A video id that appears twice is
a corrupt file (JSON would silently keep the last entry): :class:`DuplicateVideoIdError`.

Text that reaches prompts (task classes, step labels) is made one line of printable text here,
where it enters the project: a label holding ``"\nB. ..."`` must not render as an option line.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# YouTube ids are 11 characters of [A-Za-z0-9_-]; synthetic and other sources may be longer.
# Anything else (path separators, dots, spaces) could escape the output folder, so it is refused.
_SAFE_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class CoinFormatError(ValueError):
    """The annotation file as a whole cannot be read (not JSON, no ``database``...)."""


class DuplicateVideoIdError(CoinFormatError):
    """A video id is a key of ``database`` more than once: which entry is meant cannot be known."""

    def __init__(self, path: str | Path, video_ids: list[str]) -> None:
        self.path, self.video_ids = str(path), list(video_ids)
        more = f" (and {len(video_ids) - 1} more)" if len(video_ids) > 1 else ""
        super().__init__(f"{path}: duplicate video id {video_ids[0]!r}{more}")


@dataclass(frozen=True)
class Step:
    """One annotated segment of a video."""

    label: str
    start: float
    end: float
    step_id: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class CoinVideo:
    """One COIN video entry, its steps sorted by start time."""

    video_id: str
    task: str
    recipe_type: str
    subset: str
    duration: float
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class VideoProblem:
    """Why a video entry was not usable: the reason key is what ``build_report.json`` counts."""

    video_id: str
    reason: str
    message: str
    field: str = ""


@dataclass
class CoinAnnotations:
    """Parsed annotation file: usable videos and the problems found, in file order."""

    path: str
    videos: list[CoinVideo] = field(default_factory=list)
    problems: list[VideoProblem] = field(default_factory=list)

    def task_steps(self) -> dict[str, list[str]]:
        """Distinct step labels of each task, in order of first appearance (for ETS distractors)."""
        steps: dict[str, list[str]] = {}
        for video in self.videos:
            known = steps.setdefault(video.task, [])
            for step in video.steps:
                if step.label not in known:
                    known.append(step.label)
        return steps


def is_safe_video_id(video_id: str) -> bool:
    """Whether ``video_id`` can name files safely (no path separators, no dots).

    >>> is_safe_video_id("-9cGe2ub8Ds"), is_safe_video_id("../etc"), is_safe_video_id("a/b")
    (True, False, False)
    """
    return bool(_SAFE_VIDEO_ID.match(video_id))


def clean_text(text: str) -> str:
    """``text`` as one line of printable text: every run of whitespace (newlines and tabs
    included) becomes one space, control and format characters are dropped, ends are stripped.

    >>> clean_text("Cut\\nB. fake\\tstep\\x00 "), clean_text("a\\u202eb")
    ('Cut B. fake step', 'ab')
    """
    kept = (" " if char.isspace() else char for char in text if char.isspace() or unicodedata.category(char) not in ("Cc", "Cf", "Cs"))
    return " ".join("".join(kept).split())


def _number(value: Any, video_id: str, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _EntryError("bad_annotation", f"{field_name} is {value!r}, not a number", field_name)
    try:
        number = float(value)
    except ValueError:
        raise _EntryError("bad_annotation", f"{field_name} is {value!r}, not a number", field_name) from None
    if not math.isfinite(number):
        raise _EntryError("bad_annotation", f"{field_name} is {value!r}, not a finite number", field_name)
    return number


class _EntryError(Exception):
    def __init__(self, reason: str, message: str, field_name: str = "") -> None:
        super().__init__(message)
        self.reason, self.message, self.field = reason, message, field_name


def parse_video_entry(video_id: str, entry: Any) -> CoinVideo:
    """Validate one ``database`` entry; raises ``_EntryError`` naming the field at fault."""
    if not is_safe_video_id(video_id):
        raise _EntryError(
            "bad_video_id",
            "video id must be 1-128 characters of letters, digits, '_' or '-' (no path separators)",
            "database key",
        )
    if not isinstance(entry, dict):
        raise _EntryError("bad_annotation", f"entry is {type(entry).__name__}, not an object", "database")
    duration = _number(entry.get("duration"), video_id, "duration")
    if duration <= 0:
        raise _EntryError("bad_annotation", f"duration is {duration}, not positive", "duration")
    task = entry.get("class")
    task = clean_text(task) if isinstance(task, str) else task
    if not isinstance(task, str) or not task:
        raise _EntryError("bad_annotation", f"class is {task!r}, not a task name", "class")
    annotation = entry.get("annotation")
    if not isinstance(annotation, list):
        raise _EntryError("bad_annotation", f"annotation is {type(annotation).__name__}, not a list", "annotation")
    steps = []
    for index, segment_entry in enumerate(annotation):
        where = f"annotation[{index}]"
        if not isinstance(segment_entry, dict):
            raise _EntryError("bad_annotation", f"{where} is not an object", where)
        segment = segment_entry.get("segment")
        if not isinstance(segment, (list, tuple)) or len(segment) != 2:
            raise _EntryError("bad_annotation", f"{where}.segment is {segment!r}, not [start, end]", f"{where}.segment")
        start = _number(segment[0], video_id, f"{where}.segment[0]")
        end = _number(segment[1], video_id, f"{where}.segment[1]")
        if start < 0:
            raise _EntryError("bad_segment", f"{where}.segment starts at {start} < 0", f"{where}.segment")
        if end <= start:
            raise _EntryError("bad_segment", f"{where}.segment [{start}, {end}] has end <= start", f"{where}.segment")
        # COIN rounds times, so allow half a second of slack past the stated duration.
        if end > duration + 0.5:
            raise _EntryError(
                "bad_segment",
                f"{where}.segment ends at {end} s, past the video's duration {duration} s",
                f"{where}.segment",
            )
        label = segment_entry.get("label")
        if not isinstance(label, str) or not clean_text(label):
            raise _EntryError("bad_annotation", f"{where}.label is {label!r}, not a step name", f"{where}.label")
        steps.append(Step(label=clean_text(label), start=start, end=min(end, duration), step_id=str(segment_entry.get("id", ""))))
    steps.sort(key=lambda s: (s.start, s.end))
    return CoinVideo(
        video_id=video_id,
        task=task,
        recipe_type=str(entry.get("recipe_type", "")),
        subset=str(entry.get("subset", "")),
        duration=duration,
        steps=tuple(steps),
    )


def load_coin(path: str | Path) -> CoinAnnotations:
    """Read ``COIN.json``; entries that fail validation are kept as problems, not raised.

    >>> import json, tempfile, os
    >>> tmp = os.path.join(tempfile.mkdtemp(), "COIN.json")
    >>> _ = open(tmp, "w").write(json.dumps({"database": {"v1": {"duration": 9, "class": "T",
    ...     "annotation": [{"id": "1", "segment": [0, 3], "label": "cut"}]}, "a/b": {}}}))
    >>> coin = load_coin(tmp)
    >>> [v.video_id for v in coin.videos], [(p.video_id, p.reason) for p in coin.problems]
    (['v1'], [('a/b', 'bad_video_id')])
    """
    path = Path(path)
    duplicates: dict[int, tuple[dict, list[str]]] = {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_remembering_duplicates(duplicates))
    except FileNotFoundError:
        raise CoinFormatError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CoinFormatError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise CoinFormatError(f"{path}: expected a top-level object with a 'database' object of videos")
    if "database" in duplicates.get(id(data), ({}, []))[1]:
        raise CoinFormatError(f"{path}: the top-level key 'database' appears more than once")
    if id(data["database"]) in duplicates:
        raise DuplicateVideoIdError(path, duplicates[id(data["database"])][1])
    result = CoinAnnotations(path=str(path))
    for video_id, entry in data["database"].items():
        try:
            result.videos.append(parse_video_entry(str(video_id), entry))
        except _EntryError as err:
            result.problems.append(
                VideoProblem(video_id=str(video_id), reason=err.reason, message=f"{path}: video {video_id!r}: {err.message}", field=err.field)
            )
    return result


def _remembering_duplicates(duplicates: dict[int, tuple[dict, list[str]]]):
    """A ``json`` ``object_pairs_hook`` that builds plain dicts and records, by the ``id`` of each
    object built, the keys it held more than once (``json`` alone keeps the last silently)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        repeated: list[str] = []
        for key, value in pairs:
            if key in obj and key not in repeated:
                repeated.append(key)
            obj[key] = value
        if repeated:
            # Keep the object itself too: one dropped as a duplicate's old value would otherwise
            # be freed and its id reused by a later object, which would inherit its repeats.
            duplicates[id(obj)] = (obj, repeated)
        return obj

    return hook
