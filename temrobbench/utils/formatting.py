"""Numbers as the reports print them (standard library only: the reference tables use it at
parser time)."""

from __future__ import annotations


def percent(value: float | None) -> str:
    """A percentage with one decimal, ``–`` when there is none.

    >>> percent(41.25), percent(None)
    ('41.2', '–')
    """
    return "–" if value is None else f"{value:.1f}"


def signed(value: float, digits: int) -> str:
    """``value`` with its sign, a value that rounds to zero as +0 (never ``-0.000``).

    >>> signed(-0.00004, 3), signed(-0.25, 1), signed(1.0, 1)
    ('+0.000', '-0.2', '+1.0')
    """
    return f"{round(value, digits) or 0.0:+.{digits}f}"
