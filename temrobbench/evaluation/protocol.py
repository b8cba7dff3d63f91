"""The evaluation protocol: which queries an item gets, and how answers become roles.

Per item: the clean version once (round 0, stored option order) and the adversarial version in
``rounds`` rounds, round r showing the stored options rotated by r so the correct option visits
every position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from temrobbench.prompt import render_prompt, rotation


#: Options per item: rounds beyond it would repeat rotations (round r and r + 4 show the same order).
NUM_OPTIONS = 4


@dataclass(frozen=True)
class PlannedQuery:
    """A query before its frames are decoded."""

    row: Mapping[str, Any]
    setting: str
    round: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.row["id"], self.setting, self.round)


def plan_item(clean_row: Mapping[str, Any], adversarial_row: Mapping[str, Any], rounds: int) -> list[PlannedQuery]:
    """The 1 + ``rounds`` queries of one item.

    >>> row = {"id": "x"}
    >>> [(q.setting, q.round) for q in plan_item(row, row, 4)]
    [('clean', 0), ('adversarial', 0), ('adversarial', 1), ('adversarial', 2), ('adversarial', 3)]
    """
    return [PlannedQuery(clean_row, "clean", 0)] + [PlannedQuery(adversarial_row, "adversarial", r) for r in range(rounds)]


def render_query(query: PlannedQuery):
    row = query.row
    return render_prompt(row, rotation(len(row["options"]), query.round))


def video_key(row: Mapping[str, Any]) -> str:
    """Identity of a row's video file: its path in the benchmark (rows share clean videos)."""
    video = row["video"]
    if isinstance(video, Mapping):
        if video.get("path"):
            return str(video["path"])
        import hashlib

        return "sha1:" + hashlib.sha1(video["bytes"]).hexdigest()
    return str(video)
