"""The ITS item of a video (intrinsic temporal shortcut: the video's events are reordered), ``light``
(one adjacent swap) or ``severe`` (two or more swaps), with a clean and an adversarial version
(docs/design.md, "Items"). The ETS items are :mod:`temrobbench.items.ets`.

Everything here is pure and seeded per (seed, video id, item), so an item does not depend on which
other videos were selected, on worker scheduling, or on the order videos were processed in.
"""

from __future__ import annotations

import random
from typing import Iterator, Sequence

from temrobbench.source.eligibility import normalize_label
from temrobbench.items.spec import MAX_TRIES, ItemInfeasible, ItemSpec, VersionSpec, arrange_options, clean_roles, display_names, humanize_task, item_rng
from temrobbench.items.orderings import kendall_tau_distance, labels_in_order, render_ordering, swap

ITS_QUESTION = 'This video shows the task "{task}". In which order are the steps performed in the video?'




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


# The ITS categories (temrobbench.items.categories lists them): how each edits the event order.
EDITS = {"light": light_edit, "severe": severe_edit}


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
    if category not in EDITS:
        raise ValueError(f"ITS category must be one of {tuple(EDITS)}, not {category!r}")
    rng = item_rng(seed, video_id, f"its-{category}")
    labels = [normalize_label(e) for e in events]
    original = list(range(len(events)))
    edited = EDITS[category](labels, rng)
    distractors = _ordering_distractors(events, edited, original, rng)
    names = display_names(events)  # a step recurring with other casing still reads the same
    text = lambda order: render_ordering([names[labels[i]] for i in order])  # noqa: E731
    options, roles = arrange_options(
        rng, {"correct": text(edited), "shortcut": text(original)}, [text(d) for d in distractors]
    )
    return ItemSpec(
        id=f"{video_id}_its",
        perturbation="intrinsic",
        category=category,
        question=ITS_QUESTION.format(task=humanize_task(task)),
        options=tuple(options),
        clean=VersionSpec(clean_roles(roles, roles.index("shortcut")), (), tuple(original)),
        adversarial=VersionSpec(tuple(roles), (), tuple(edited)),
        extra={"kendall_tau": kendall_tau_distance(labels, [labels[k] for k in edited])},
    )
