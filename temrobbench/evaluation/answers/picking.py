"""The one rule that turns a model's scores into an answer, for every adapter and scoring mode.

A choice is made only from information: an option letter with no score (e.g. outside an API's top
log-probs) is unknown, not a floor value; no known score, or a tie at the best score, is no answer.
The record is then ``invalid`` with the reason, never a silent pick of the first letter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence


class UnscorableResponseError(ValueError):
    """A response that can never be scored in the requested mode (e.g. a server that returns no
    log-probabilities): the query is recorded as an error and the run stops, instead of filling
    the records with thousands of empty answers. Its message is the one line for the user."""


@dataclass(frozen=True)
class Pick:
    """The chosen letter, or ``None`` with the reason there is none."""

    choice: str | None
    reason: str | None = None


def _known(value: float | None) -> bool:
    return value is not None and not math.isnan(value) and value != -math.inf


def pick_letter(scores: Mapping[str, float | None], letters: Sequence[str]) -> Pick:
    """The letter with the strictly highest score; letters without a score are unknown.

    >>> pick_letter({"A": -1.0, "B": -0.5, "C": None, "D": -3.0}, "ABCD")
    Pick(choice='B', reason=None)
    >>> pick_letter({"A": -10.0, "B": -10.0, "C": -10.0, "D": -10.0}, "ABCD")
    Pick(choice=None, reason='tie between A, B, C, D at -10')
    >>> pick_letter({"A": None, "B": None}, "AB")
    Pick(choice=None, reason='no option letter among the returned log-probabilities')
    """
    known = {letter: float(scores[letter]) for letter in letters if _known(scores.get(letter))}
    if not known:
        return Pick(None, "no option letter among the returned log-probabilities")
    best = max(known.values())
    winners = [letter for letter, value in known.items() if value == best]
    if len(winners) > 1:
        return Pick(None, f"tie between {', '.join(winners)} at {best:.6g}")
    return Pick(winners[0])


def pick_option(scores: Sequence[float | None], letters: Sequence[str]) -> Pick:
    """The letter of the option with the strictly highest score (choice scoring).

    >>> pick_option([-4.0, -2.0, -9.0], "ABC")
    Pick(choice='B', reason=None)
    >>> pick_option([-2.0, -2.0, -9.0], "ABC").reason
    'tie between A, B at -2'
    """
    if len(scores) != len(letters):
        raise ValueError(f"{len(scores)} option scores for {len(letters)} options")
    pick = pick_letter(dict(zip(letters, scores)), letters)
    if pick.reason and pick.reason.startswith("no option"):
        return Pick(None, "no option has a score")
    return pick
