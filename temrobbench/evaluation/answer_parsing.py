"""Extract the chosen option letter from a model's free-text answer."""

from __future__ import annotations

import re
from typing import Sequence


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower()).strip(" .\"'")


def parse_answer(text: str, letters: Sequence[str], options: Sequence[str] = ()) -> str | None:
    """The letter a model chose, or None when its answer names no single option.

    Accepts "B", "(B)", "B.", "B) text", "The answer is B", "Answer: (B)", and the text of an option.

    >>> [parse_answer(t, "ABCD") for t in ["B", "(c)", "D.", "The answer is A.", "Answer: (B) foo"]]
    ['B', 'C', 'D', 'A', 'B']
    >>> parse_answer("cut -> sand", "ABCD", ["sand -> cut", "cut -> sand", "x", "y"])
    'B'
    >>> parse_answer("A or B", "ABCD") is None, parse_answer("", "ABCD") is None
    (True, True)
    """
    if not text:
        return None
    letters = [letter.upper() for letter in letters]
    stripped = text.strip()
    alternatives = "|".join(map(re.escape, letters))
    # The whole answer is a letter, possibly bracketed or followed by punctuation / the option.
    whole = re.fullmatch(rf"[\(\[]?({alternatives})[\)\]]?(?:[\.\:\)]\s*.*)?", stripped, flags=re.IGNORECASE | re.DOTALL)
    if whole:
        return whole.group(1).upper()
    # "The answer is B", "answer: (B)", "option C".
    phrase = re.search(rf"(?:answer|option|choice)\s*(?:is|:)?\s*[\(\[]?({alternatives})\b[\)\]]?", stripped, flags=re.IGNORECASE)
    if phrase:
        return phrase.group(1).upper()
    # The text of exactly one option.
    if options:
        said = _normalize(stripped)
        matches = [letters[i] for i, option in enumerate(options) if _normalize(option) == said]
        if len(matches) == 1:
            return matches[0]
    # A single standalone capital letter among the options, and no other.
    found = set(re.findall(rf"(?<![A-Za-z])({alternatives})(?![A-Za-z])", stripped))
    if len(found) == 1:
        return found.pop()
    return None
