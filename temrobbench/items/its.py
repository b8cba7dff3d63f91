"""Construct the three items of a video (DESIGN.md §1, "Items"): ITS light/severe, ETS absolute and
relative, each with a clean and an adversarial version.

Everything here is pure and seeded per (seed, video id, item), so an item does not depend on which
other videos were selected, on worker scheduling, or on the order videos were processed in.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from temrobbench.items.categories import categories_of
from temrobbench.source.eligibility import normalize_label
from temrobbench.items.schema import LETTERS
from temrobbench.items.orderings import (
    adjacent_pairs,
    kendall_tau_distance,
    labels_in_order,
    render_ordering,
    render_statement,
    swap,
)

ITS_QUESTION = 'This video shows the task "{task}". In which order are the steps performed in the video?'
ETS_QUESTION = (
    'Which statement about the order of the steps is true for the video? '
    '"X" then "Y" means that step Y immediately follows step X.'
)
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


def _arrange(rng: random.Random, by_role: dict[str, str], incorrect: Sequence[str]) -> tuple[list[str], list[str]]:
    """Stored options in a random order (correct uniformly placed) and their adversarial roles."""
    entries = [(by_role["correct"], "correct"), (by_role["shortcut"], "shortcut")]
    entries += [(text, "incorrect") for text in incorrect]
    rng.shuffle(entries)
    return [text for text, _ in entries], [role for _, role in entries]


def _clean_roles(adv_roles: Sequence[str], clean_correct_index: int) -> tuple[str, ...]:
    return tuple("correct" if i == clean_correct_index else "incorrect" for i in range(len(adv_roles)))


# --------------------------------------------------------------------------------------------
# Intrinsic temporal shortcut: the video's events are reordered.
# --------------------------------------------------------------------------------------------


def light_edit(labels: Sequence[str], rng: random.Random) -> list[int]:
    """One random adjacent pair (with different labels) swapped."""
    candidates = [i for i in range(len(labels) - 1) if labels[i] != labels[i + 1]]
    if not candidates:
        raise ItemInfeasible("its_light_infeasible", "no adjacent pair of different steps to swap")
    i = rng.choice(candidates)
    return swap(range(len(labels)), i, i + 1)


def severe_edit(labels: Sequence[str], rng: random.Random) -> list[int]:
    """At least two swaps of distinct event pairs, ending at Kendall-tau distance >= 2."""
    n = len(labels)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if labels[i] != labels[j]]
    if len(pairs) < 2:
        raise ItemInfeasible("its_severe_infeasible", "fewer than two pairs of different steps")
    for _ in range(MAX_TRIES):
        order = list(range(n))
        for i, j in rng.sample(pairs, rng.choice((2, 3)) if len(pairs) >= 3 else 2):
            order = swap(order, i, j)
        if kendall_tau_distance(labels, [labels[k] for k in order]) >= 2:
            return order
    raise ItemInfeasible("its_severe_infeasible", "no edit at Kendall-tau distance >= 2 found")


def _neighbour_orderings(order: Sequence[int]) -> list[list[int]]:
    return [swap(order, i, i + 1) for i in range(len(order) - 1)]


def _ordering_distractors(
    events: Sequence[str], correct: Sequence[int], shortcut: Sequence[int], rng: random.Random
) -> list[list[int]]:
    """Two orderings distinct (as label sequences) from both answers and each other, each one
    adjacent swap from the correct or the shortcut ordering where possible (plausible)."""
    taken = {labels_in_order(events, correct), labels_in_order(events, shortcut)}
    chosen: list[list[int]] = []
    near = _neighbour_orderings(correct) + _neighbour_orderings(shortcut)
    rng.shuffle(near)
    # Orderings that put a recurring step twice in a row ("weld -> weld") read as typos and are
    # easy to rule out: use them only when nothing else is left.
    labels = [normalize_label(e) for e in events]
    near.sort(key=lambda order: any(labels[a] == labels[b] for a, b in zip(order, order[1:])))

    def candidates() -> Iterator[list[int]]:
        yield from near
        for _ in range(MAX_TRIES):  # fall back to random orderings
            shuffled = list(correct)
            rng.shuffle(shuffled)
            yield shuffled

    for candidate in candidates():
        key = labels_in_order(events, candidate)
        if key not in taken:
            taken.add(key)
            chosen.append(candidate)
            if len(chosen) == 2:
                return chosen
    raise ItemInfeasible("its_distractors_infeasible", "fewer than two distinct distractor orderings")


def build_its_item(video_id: str, task: str, events: Sequence[str], category: str, seed: int) -> ItemSpec:
    """The ITS item of one video for ``category`` ``light`` or ``severe``."""
    if category not in categories_of("intrinsic"):
        raise ValueError(f"ITS category must be one of {categories_of('intrinsic')}, not {category!r}")
    rng = item_rng(seed, video_id, f"its-{category}")
    labels = [normalize_label(e) for e in events]
    original = list(range(len(events)))
    edited = light_edit(labels, rng) if category == "light" else severe_edit(labels, rng)
    distractors = _ordering_distractors(events, edited, original, rng)
    names = _display_names(events)  # a step recurring with other casing still reads the same
    text = lambda order: render_ordering([names[labels[i]] for i in order])  # noqa: E731
    options, roles = _arrange(
        rng, {"correct": text(edited), "shortcut": text(original)}, [text(d) for d in distractors]
    )
    return ItemSpec(
        id=f"{video_id}_its",
        perturbation="intrinsic",
        category=category,
        question=ITS_QUESTION.format(task=humanize_task(task)),
        options=tuple(options),
        clean=VersionSpec(_clean_roles(roles, roles.index("shortcut")), (), tuple(original)),
        adversarial=VersionSpec(tuple(roles), (), tuple(edited)),
        extra={"kendall_tau": kendall_tau_distance(labels, [labels[k] for k in edited])},
    )


# --------------------------------------------------------------------------------------------
# Extrinsic temporal shortcut: the text describing the events is out of order.
# --------------------------------------------------------------------------------------------


def _display_names(labels: Sequence[str]) -> dict[str, str]:
    """Normalized label -> text as first written, so statements read like the annotations."""
    names: dict[str, str] = {}
    for label in labels:
        names.setdefault(normalize_label(label), label)
    return names


def _statement_distractors(
    vocabulary: Sequence[str], video: Sequence[str], descriptions: Sequence[str], rng: random.Random
) -> list[tuple[str, str]]:
    """Two ``X then Y`` statements false in the video and in the descriptions."""
    true_pairs = adjacent_pairs(video) | adjacent_pairs(descriptions)
    candidates = [(x, y) for x in vocabulary for y in vocabulary if x != y and (x, y) not in true_pairs]
    if len(candidates) < 2:
        raise ItemInfeasible("ets_distractors_infeasible", "fewer than two statements false in video and text")
    return rng.sample(candidates, 2)


def build_ets_absolute_item(video_id: str, events: Sequence[str], seed: int) -> ItemSpec:
    """ETS ``absolute``: the descriptions show a true adjacent pair reversed."""
    rng = item_rng(seed, video_id, "ets-absolute")
    labels = [normalize_label(e) for e in events]
    names = _display_names(events)
    pairs_in_video = adjacent_pairs(labels)
    ks = [k for k in range(len(labels) - 1) if (labels[k + 1], labels[k]) not in pairs_in_video]
    rng.shuffle(ks)
    for k in ks:
        rest = labels[:k] + labels[k + 2 :]
        for _ in range(MAX_TRIES // 4):
            shuffled = list(rest)
            rng.shuffle(shuffled)
            position = rng.randint(0, len(shuffled))
            descriptions = shuffled[:position] + [labels[k + 1], labels[k]] + shuffled[position:]
            # Repeated neighbours ("weld, weld") would read as a duplicated description.
            if (labels[k], labels[k + 1]) not in adjacent_pairs(descriptions) and all(
                a != b for a, b in zip(descriptions, descriptions[1:])
            ):
                break
        else:
            continue
        correct, shortcut = (labels[k], labels[k + 1]), (labels[k + 1], labels[k])
        distractors = _statement_distractors(sorted(set(labels)), labels, descriptions, rng)
        return _ets_item(video_id, "absolute", names, labels, descriptions, correct, shortcut, distractors, rng)
    raise ItemInfeasible("ets_absolute_infeasible", "no adjacent pair whose reversal is false in the video")


def build_ets_relative_item(
    video_id: str, task: str, events: Sequence[str], task_steps: dict[str, list[str]], seed: int
) -> ItemSpec:
    """ETS ``relative``: an irrelevant step z is described between two adjacent events."""
    rng = item_rng(seed, video_id, "ets-relative")
    labels = [normalize_label(e) for e in events]
    pair_counts: dict[tuple[str, str], int] = {}
    for pair in zip(labels, labels[1:]):
        pair_counts[pair] = pair_counts.get(pair, 0) + 1
    ks = [k for k in range(len(labels) - 1) if pair_counts[(labels[k], labels[k + 1])] == 1]
    if not ks:
        raise ItemInfeasible("ets_relative_infeasible", "every adjacent pair occurs more than once")
    k = rng.choice(ks)
    present = set(labels)
    own = [s for s in task_steps.get(task, []) if normalize_label(s) not in present]
    others = sorted(
        {s for t, steps in task_steps.items() if t != task for s in steps if normalize_label(s) not in present}
    )
    pool = own or others
    if not pool:
        raise ItemInfeasible("ets_relative_infeasible", "no step outside this video to insert")
    z_text = rng.choice(sorted(set(pool), key=normalize_label))
    z = normalize_label(z_text)
    names = _display_names(list(events) + [z_text])
    descriptions = labels[: k + 1] + [z] + labels[k + 1 :]
    correct, shortcut = (labels[k], labels[k + 1]), (labels[k], z)
    distractors = _statement_distractors(sorted(present | {z}), labels, descriptions, rng)
    item = _ets_item(video_id, "relative", names, labels, descriptions, correct, shortcut, distractors, rng)
    item.extra["inserted_step_from_same_task"] = bool(own)
    return item


def _ets_item(
    video_id: str,
    category: str,
    names: dict[str, str],
    labels: Sequence[str],
    descriptions: Sequence[str],
    correct: tuple[str, str],
    shortcut: tuple[str, str],
    distractors: Sequence[tuple[str, str]],
    rng: random.Random,
) -> ItemSpec:
    text = lambda pair: render_statement(names[pair[0]], names[pair[1]])  # noqa: E731
    options, roles = _arrange(
        rng, {"correct": text(correct), "shortcut": text(shortcut)}, [text(d) for d in distractors]
    )
    identity = tuple(range(len(labels)))
    return ItemSpec(
        id=f"{video_id}_ets_{category}",
        perturbation="extrinsic",
        category=category,
        question=ETS_QUESTION,
        options=tuple(options),
        clean=VersionSpec(_clean_roles(roles, roles.index("correct")), tuple(names[x] for x in labels), identity),
        adversarial=VersionSpec(tuple(roles), tuple(names[x] for x in descriptions), identity),
    )
