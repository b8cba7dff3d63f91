"""Which COIN videos can carry TemRobBench items (docs/design.md, "Source")."""

from __future__ import annotations

from dataclasses import dataclass

from temrobbench.source.coin import CoinVideo


def normalize_label(label: str) -> str:
    """Labels are compared lower-cased and stripped ("Weld " and "weld" are one step)."""
    return label.strip().lower()


@dataclass(frozen=True)
class EligibilityRules:
    """Thresholds of eligibility; the defaults leave about 900 of COIN's 11,827 videos."""

    min_steps: int = 5
    min_distinct_labels: int = 4
    min_total_duration: float = 20.0
    max_total_duration: float = 150.0

    def __post_init__(self) -> None:
        if self.min_steps < 3:
            raise ValueError("min_steps must be >= 3: the items need an adjacent pair plus distractors")
        if self.min_distinct_labels < 3:
            raise ValueError("min_distinct_labels must be >= 3 to make four distinct options")
        if not 0 <= self.min_total_duration <= self.max_total_duration:
            raise ValueError("need 0 <= min_total_duration <= max_total_duration")


def ineligibility_reason(video: CoinVideo, rules: EligibilityRules = EligibilityRules()) -> str | None:
    """The reason ``video`` is ineligible on its annotations alone, or None when it is eligible.

    File existence and decodability are checked later, by the build.

    >>> from temrobbench.source.coin import CoinVideo, Step
    >>> steps = tuple(Step(l, 10 * i, 10 * i + 8) for i, l in enumerate("abcde"))
    >>> ineligibility_reason(CoinVideo("v", "T", "", "", 60.0, steps)) is None
    True
    >>> ineligibility_reason(CoinVideo("v", "T", "", "", 60.0, steps[:4]))
    'too_few_steps'
    """
    steps = video.steps
    labels = [normalize_label(step.label) for step in steps]
    if len(steps) < rules.min_steps:
        return "too_few_steps"
    if len(set(labels)) < rules.min_distinct_labels:
        return "too_few_distinct_labels"
    if any(a == b for a, b in zip(labels, labels[1:])):
        return "repeated_consecutive_label"
    # Overlapping events would show the same frames twice once their clips are concatenated.
    if any(nxt.start < cur.end - 1e-6 for cur, nxt in zip(steps, steps[1:])):
        return "overlapping_segments"
    total = sum(step.duration for step in steps)
    if not rules.min_total_duration <= total <= rules.max_total_duration:
        return "total_duration_out_of_range"
    return None
