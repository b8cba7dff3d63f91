"""What an item is, shared by the ITS and ETS builders (``its``, ``ets``) and everything downstream:
the option letters and roles, :class:`ItemSpec` with its clean and adversarial :class:`VersionSpec`,
the seeded generator of one item and the option arrangement (docs/design.md, "Items").

Imports neither the builders nor the categories table, so both can import it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Sequence

from temrobbench.source.eligibility import normalize_label

ROLES: tuple[str, ...] = ("correct", "shortcut", "incorrect")
LETTERS: tuple[str, ...] = ("A", "B", "C", "D")

MAX_TRIES = 200  # bounded resampling: an infeasible item is skipped and counted, never looped on


class ItemInfeasible(Exception):
    """The item cannot be built for this video; ``reason`` is counted in ``build_report.json``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class VersionSpec:
    """What differs between the clean and adversarial version of an item."""

    option_roles: tuple[str, ...]
    descriptions: tuple[str, ...]
    order: tuple[int, ...]  # event order the video of this version shows

    @property
    def answer(self) -> str:
        return LETTERS[self.option_roles.index("correct")]

    @property
    def shortcut(self) -> str | None:
        return LETTERS[self.option_roles.index("shortcut")] if "shortcut" in self.option_roles else None


@dataclass(frozen=True)
class ItemSpec:
    """One question with its clean and adversarial versions; video files are attached by the build."""

    id: str
    perturbation: str
    category: str
    question: str
    options: tuple[str, ...]
    clean: VersionSpec
    adversarial: VersionSpec
    extra: dict = field(default_factory=dict, compare=False)


def humanize_task(task: str) -> str:
    """COIN class names are CamelCase ("MakeFrenchFries"): show them as words.

    >>> humanize_task("MakeFrenchFries"), humanize_task("ReplaceACDCPlug")
    ('make french fries', 'replace ACDC plug')
    """
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", task) or [task]
    return " ".join(w if (w.isupper() and len(w) > 1) else w.lower() for w in words)


def item_rng(seed: int, video_id: str, item: str) -> random.Random:
    """A generator private to one item (string seeds hash with SHA-512: stable across runs)."""
    return random.Random(f"temrobbench:{seed}:{video_id}:{item}")


def arrange_options(rng: random.Random, by_role: dict[str, str], incorrect: Sequence[str]) -> tuple[list[str], list[str]]:
    """Stored options in a random order (correct uniformly placed) and their adversarial roles."""
    entries = [(by_role["correct"], "correct"), (by_role["shortcut"], "shortcut")]
    entries += [(text, "incorrect") for text in incorrect]
    rng.shuffle(entries)
    return [text for text, _ in entries], [role for _, role in entries]


def clean_roles(adv_roles: Sequence[str], clean_correct_index: int) -> tuple[str, ...]:
    return tuple("correct" if i == clean_correct_index else "incorrect" for i in range(len(adv_roles)))


def display_names(labels: Sequence[str]) -> dict[str, str]:
    """Normalized label -> text as first written, so statements read like the annotations."""
    names: dict[str, str] = {}
    for label in labels:
        names.setdefault(normalize_label(label), label)
    return names

