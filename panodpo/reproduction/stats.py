"""Statistics of the mini reproduction: paired differences over seeds, and shortcut margins.

Interval: a **paired t-interval over seeds**. For a row X and each seed s, d_s = metric(PanoDPO, s)
- metric(X, s) (both trained from the same SFT model on the same data and evaluated on the same
benchmark, so item and world noise largely cancel in the pair); the 95% interval is
mean(d) ± t(0.975, n-1) · sd(d) / sqrt(n). The seed-to-seed spread of d already contains the item
sampling noise (each seed builds its own worlds and benchmark), so no second level is added. With
5 seeds, t(0.975, 4) = 2.776: an interval that excludes 0 needs a consistent effect. Next to it,
the number of seeds where the sign favours PanoDPO (lower FR, higher T-Acc and margin).

Shortcut margin (the paper's Fig. 7): per adversarial ITS record, log p(correct) - log p(shortcut)
where log p(option) is the choice score of the option's full text (``option_scores``, the summed
log-probability of its tokens as the answer); averaged over an item's rounds. Positive: the model
prefers what the video shows over the usual order.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Iterable, Sequence

from temrobbench.items.spec import LETTERS

# Two-sided 95% quantiles of Student's t, t(0.975, df), df = 1..30 (beyond: the normal's 1.96 is
# within 0.05 of the truth). A table, so that the statistics need nothing beyond the standard library.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile_975(df: int) -> float:
    """t(0.975, df): the multiplier of a two-sided 95% t-interval.

    >>> t_quantile_975(4)
    2.776
    """
    if df < 1:
        raise ValueError("a t-interval needs at least 2 paired values")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def paired_interval(treatment: Sequence[float], control: Sequence[float]) -> dict:
    """Mean of the paired differences ``treatment - control`` with its 95% paired t-interval.

    >>> r = paired_interval([10, 12, 11], [8, 8, 8])  # sd 1, half-width 4.303 / sqrt(3)
    >>> r["mean"], round(r["low"], 2), round(r["high"], 2), r["diffs"]
    (3, 0.52, 5.48, [2, 4, 3])
    """
    if len(treatment) != len(control):
        raise ValueError("paired values must come in pairs")
    diffs = [t - c for t, c in zip(treatment, control)]
    n = len(diffs)
    mean = statistics.mean(diffs) if diffs else float("nan")
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "sd": None, "n": n, "diffs": diffs}
    sd = statistics.stdev(diffs)
    half = t_quantile_975(n - 1) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "sd": sd, "n": n, "diffs": diffs}


def sign_count(diffs: Iterable[float], better: str) -> int:
    """Seeds where the difference favours the treatment: ``better`` is ``lower`` or ``higher``.

    >>> sign_count([-3.0, 0.0, 2.0, -1.0], "lower"), sign_count([-3.0, 0.0, 2.0], "higher")
    (2, 1)
    """
    if better not in ("lower", "higher"):
        raise ValueError("better must be 'lower' or 'higher'")
    return sum(1 for d in diffs if (d < 0 if better == "lower" else d > 0))


def record_margin(record: dict) -> float | None:
    """log p(correct) - log p(shortcut) of one choice-scored record, None where it has no shortcut."""
    scores = record.get("option_scores")
    correct, shortcut = record.get("correct_letter"), record.get("shortcut_letter")
    if scores is None or correct is None or shortcut is None:
        return None
    a, b = scores[LETTERS.index(correct)], scores[LETTERS.index(shortcut)]
    if a is None or b is None:
        return None
    return float(a) - float(b)


def item_margins(records: Iterable[dict], perturbation: str = "intrinsic") -> dict[str, float]:
    """Per adversarial item of ``perturbation``: its shortcut margin averaged over the rounds.

    >>> recs = [{"item_id": "v_its", "perturbation": "intrinsic", "setting": "adversarial", "correct_letter": "B",
    ...          "shortcut_letter": "A", "option_scores": [-3.0, -1.0, -5.0, -6.0]},
    ...         {"item_id": "v_its", "perturbation": "intrinsic", "setting": "adversarial", "correct_letter": "A",
    ...          "shortcut_letter": "D", "option_scores": [-2.0, -5.0, -6.0, -2.0]}]
    >>> item_margins(recs)
    {'v_its': 1.0}
    """
    per_item: dict[str, list[float]] = {}
    for record in records:
        if record.get("setting") != "adversarial" or record.get("perturbation") != perturbation:
            continue
        margin = record_margin(record)
        if margin is not None:
            per_item.setdefault(record["item_id"], []).append(margin)
    return {item: statistics.mean(values) for item, values in sorted(per_item.items())}


def margins_from_records_file(path: str | Path, perturbation: str = "intrinsic") -> dict[str, float]:
    with open(path, encoding="utf-8") as f:
        return item_margins((json.loads(line) for line in f if line.strip()), perturbation)


def margin_summary(margins: dict[str, float]) -> dict:
    """Mean margin and the share of items (percent) whose margin favours the correct option."""
    values = list(margins.values())
    if not values:
        return {"mean": None, "positive": None, "n": 0}
    return {"mean": statistics.mean(values), "positive": 100.0 * sum(v > 0 for v in values) / len(values), "n": len(values)}


# The quantities compared between rows, how to read them from one seed's result, and which sign
# favours PanoDPO.
def _metric(group: str, name: str):
    return lambda seed_result, row: seed_result["metrics"][row][group][name]


def _margin(seed_result: dict, row: str):
    return seed_result["margins"][row]["intrinsic"]["mean"]


COMPARED = (
    ("ITS FR", _metric("intrinsic", "fr"), "lower"),
    ("ITS T-Acc", _metric("intrinsic", "t_acc"), "higher"),
    ("ITS margin", _margin, "higher"),
    ("ETS FR", _metric("extrinsic", "fr"), "lower"),
    ("ETS T-Acc", _metric("extrinsic", "t_acc"), "higher"),
)


def paired_comparisons(seed_results: list[dict], treatment: str, controls: Sequence[str]) -> dict:
    """{control: {quantity: interval + sign count}} of ``treatment - control`` over the seeds."""
    out: dict[str, dict] = {}
    for control in controls:
        out[control] = {}
        for name, read, better in COMPARED:
            pairs = [(read(r, treatment), read(r, control)) for r in seed_results]
            pairs = [(t, c) for t, c in pairs if t is not None and c is not None]
            interval = paired_interval([t for t, _ in pairs], [c for _, c in pairs])
            interval["favours"] = sign_count(interval["diffs"], better)
            interval["better"] = better
            out[control][name] = interval
    return out


def format_interval(interval: dict, digits: int = 1) -> str:
    """``-12.3 [-25.1, 0.5] 4/5``: mean, 95% interval, seeds whose sign favours the treatment.

    >>> format_interval({"mean": -2.0, "low": -5.0, "high": 1.0, "n": 3, "favours": 2})
    '-2.0 [-5.0, 1.0] 2/3'
    """
    if not interval["n"]:
        return "–"
    f = f"{{:.{digits}f}}"
    if interval["low"] is None:
        return f"{f.format(interval['mean'])} {interval['favours']}/{interval['n']}"
    return f"{f.format(interval['mean'])} [{f.format(interval['low'])}, {f.format(interval['high'])}] {interval['favours']}/{interval['n']}"
