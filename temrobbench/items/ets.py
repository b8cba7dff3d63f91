"""The ETS items of a video (extrinsic temporal shortcut: the text describing the events is out of
order): ``absolute`` (a true adjacent pair described reversed) and ``relative`` (an irrelevant step
described between two adjacent events), each with a clean and an adversarial version
(docs/design.md, "Items").

Everything here is pure and seeded per (seed, video id, item).
"""

from __future__ import annotations

import random
from typing import Sequence

from temrobbench.items.orderings import adjacent_pairs, render_statement
from temrobbench.items.spec import MAX_TRIES, ItemInfeasible, ItemSpec, VersionSpec, arrange_options, clean_roles, display_names, item_rng
from temrobbench.source.eligibility import normalize_label

ETS_QUESTION = (
    'Which statement about the order of the steps is true for the video? '
    '"X" then "Y" means that step Y immediately follows step X.'
)


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
    names = display_names(events)
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
    names = display_names(list(events) + [z_text])
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
    options, roles = arrange_options(
        rng, {"correct": text(correct), "shortcut": text(shortcut)}, [text(d) for d in distractors]
    )
    identity = tuple(range(len(labels)))
    return ItemSpec(
        id=f"{video_id}_ets_{category}",
        perturbation="extrinsic",
        category=category,
        question=ETS_QUESTION,
        options=tuple(options),
        clean=VersionSpec(clean_roles(roles, roles.index("correct")), tuple(names[x] for x in labels), identity),
        adversarial=VersionSpec(tuple(roles), tuple(names[x] for x in descriptions), identity),
    )

