"""Label-sequence helpers: orders, swaps, Kendall-tau distance and ``X then Y`` statements.

COIN labels repeat within a video ("weld, clean, weld"), so everything here compares sequences of
normalized labels, never positions: two orders that show the same labels are the same option.
"""

from __future__ import annotations

from typing import Sequence

from temrobbench.source.eligibility import normalize_label

Labels = tuple[str, ...]


def labels_in_order(events: Sequence[str], order: Sequence[int]) -> Labels:
    """Normalized labels of ``events`` shown in ``order``."""
    return tuple(normalize_label(events[i]) for i in order)


def kendall_tau_distance(source: Sequence[str], target: Sequence[str]) -> int:
    """Fewest adjacent swaps that turn label sequence ``source`` into ``target``.

    Repeated labels are matched in order of occurrence, which gives the minimum for multisets.

    >>> kendall_tau_distance("abcde", "bacde"), kendall_tau_distance("abcde", "badce")
    (1, 2)
    >>> kendall_tau_distance("aba", "aba"), kendall_tau_distance("abac", "baac")
    (0, 1)
    """
    if sorted(source) != sorted(target):
        raise ValueError("sequences are not permutations of each other")
    positions: dict[str, list[int]] = {}
    for index, label in enumerate(source):
        positions.setdefault(label, []).append(index)
    seen: dict[str, int] = {}
    mapped = []
    for label in target:
        k = seen.get(label, 0)
        mapped.append(positions[label][k])
        seen[label] = k + 1
    return sum(1 for i in range(len(mapped)) for j in range(i + 1, len(mapped)) if mapped[i] > mapped[j])


def adjacent_pairs(labels: Sequence[str]) -> set[tuple[str, str]]:
    """The ``(X, Y)`` pairs with Y immediately after X somewhere in ``labels``."""
    return set(zip(labels, labels[1:]))


def statement_holds(labels: Sequence[str], first: str, second: str) -> bool:
    """Whether ``"first" then "second"`` (second immediately follows first) is true of ``labels``.

    >>> statement_holds(["a", "b", "a", "c"], "a", "c"), statement_holds(["a", "b"], "b", "a")
    (True, False)
    """
    return (normalize_label(first), normalize_label(second)) in adjacent_pairs(
        [normalize_label(x) for x in labels]
    )


def swap(order: Sequence[int], i: int, j: int) -> list[int]:
    """A copy of ``order`` with positions ``i`` and ``j`` exchanged."""
    result = list(order)
    result[i], result[j] = result[j], result[i]
    return result


def render_ordering(labels: Sequence[str]) -> str:
    """Option text of a full ordering.

    >>> render_ordering(["cut wood", "sand it"])
    'cut wood -> sand it'
    """
    return " -> ".join(labels)


def render_statement(first: str, second: str) -> str:
    """Option text of an ``X then Y`` statement.

    >>> render_statement("cut wood", "sand it")
    '"cut wood" then "sand it"'
    """
    return f'"{first}" then "{second}"'
