"""The benchmark's perturbations and categories, declared once (docs/design.md, "Items").

The build, the dataset configs, the metric groups, the report's columns and the plots all iterate
this table: a new category is one :class:`Category` entry plus its item builder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from temrobbench.items.ets import build_ets_absolute_item, build_ets_relative_item
from temrobbench.items.its import build_its_item
from temrobbench.items.spec import ItemSpec

# (video_id, task, events, steps of each COIN task, seed) -> an item
ItemBuilder = Callable[[str, str, Sequence[str], dict, int], ItemSpec]


def _its(category: str) -> ItemBuilder:
    def build(video_id, task, events, task_steps, seed):
        return build_its_item(video_id, task, events, category, seed)

    return build


def _ets_absolute(video_id, task, events, task_steps, seed):
    return build_ets_absolute_item(video_id, events, seed)


def _ets_relative(video_id, task, events, task_steps, seed):
    return build_ets_relative_item(video_id, task, events, task_steps, seed)


@dataclass(frozen=True)
class Category:
    name: str
    perturbation: str
    build_item: ItemBuilder

    @property
    def key(self) -> str:
        """Its name in build state and reports (``its_light``, ``ets_relative``)."""
        return f"{PERTURBATIONS[self.perturbation].abbreviation.lower()}_{self.name}"


@dataclass(frozen=True)
class Perturbation:
    name: str  # the dataset config
    abbreviation: str  # the paper's: ITS, ETS
    edits_video: bool  # the adversarial video is reordered (else the text is)
    #: One of its categories per video, balanced over videos (ITS: light or severe); else every
    #: category that can be built (ETS: absolute and relative).
    one_category_per_video: bool


PERTURBATIONS: dict[str, Perturbation] = {
    p.name: p
    for p in (
        Perturbation("intrinsic", "ITS", edits_video=True, one_category_per_video=True),
        Perturbation("extrinsic", "ETS", edits_video=False, one_category_per_video=False),
    )
}

CATEGORIES: tuple[Category, ...] = (
    Category("light", "intrinsic", _its("light")),
    Category("severe", "intrinsic", _its("severe")),
    Category("absolute", "extrinsic", _ets_absolute),
    Category("relative", "extrinsic", _ets_relative),
)


def categories_of(perturbation: str) -> tuple[str, ...]:
    """Category names of a perturbation, in table order.

    >>> categories_of("intrinsic"), categories_of("extrinsic")
    (('light', 'severe'), ('absolute', 'relative'))
    """
    return tuple(c.name for c in CATEGORIES if c.perturbation == perturbation)


def metric_groups() -> dict[str, tuple[str, str]]:
    """Group name -> (record field, value): each perturbation, then each category.

    >>> list(metric_groups())
    ['intrinsic', 'extrinsic', 'light', 'severe', 'absolute', 'relative']
    """
    groups = {name: ("perturbation", name) for name in PERTURBATIONS}
    groups.update({c.name: ("category", c.name) for c in CATEGORIES})
    return groups


def report_order() -> list[str]:
    """Groups as report tables list them: each perturbation followed by its categories.

    >>> report_order()
    ['intrinsic', 'light', 'severe', 'extrinsic', 'absolute', 'relative']
    """
    return [name for p in PERTURBATIONS for name in (p, *categories_of(p))]
