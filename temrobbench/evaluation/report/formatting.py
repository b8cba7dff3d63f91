"""Cells the metric tables (``tables``) and the explorer page (``explorer``) both show."""

from __future__ import annotations

from typing import Any

from temrobbench.utils.formatting import percent, signed


def adv_with_drop(m: dict[str, Any]) -> str:
    """Adversarial accuracy with its change from clean: ``40.0 (-10.0)``.

    >>> adv_with_drop({"adv_acc": 40.0, "clean_acc": 50.0}), adv_with_drop({"adv_acc": 40.0, "clean_acc": None})
    ('40.0 (-10.0)', '40.0')
    """
    if m["adv_acc"] is None:
        return "–"
    if m["clean_acc"] is None:
        return percent(m["adv_acc"])
    return f"{m['adv_acc']:.1f} ({signed(m['adv_acc'] - m['clean_acc'], 1)})"
