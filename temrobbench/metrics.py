"""TemRobBench metrics (docs/design.md, "Metrics"): a pure function of the evaluation records.

Each record is one query: ``item_id``, ``perturbation``, ``category``, ``setting``
(``clean``|``adversarial``), ``round`` and the ``role`` of the chosen option (``correct``,
``shortcut``, ``incorrect`` or ``invalid``); ``shortcut_margin`` where likelihood scoring made one.

- Acc (clean / adversarial): share of items whose round-0 answer is correct.
- FR: among items answered correctly when clean, the share whose adversarial round 0 is the shortcut.
- WFR: among the same items, the share whose adversarial round 0 is not correct.
- T-Acc: share of items answered correctly in at least 3 of 4 adversarial rounds (3/4 of the
  rounds, rounded up, for other round counts).
- Invalid rate: share of all queries whose output named no option (counted wrong everywhere).

All values are percentages; FR and WFR are None when no item was correct when clean.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable, Mapping

from temrobbench.items.categories import metric_groups

GROUPS: dict[str, tuple[str, str]] = metric_groups()


def _pct(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else 100.0 * numerator / denominator


def required_correct_rounds(rounds: int) -> int:
    """Rounds an item must get right to count for T-Acc: 3 of 4 (ceil of 3/4 in general).

    >>> required_correct_rounds(4), required_correct_rounds(1), required_correct_rounds(8)
    (3, 1, 6)
    """
    return max(1, math.ceil(0.75 * rounds))


def _group_metrics(items: dict[str, dict], rounds: int, margins: list[float]) -> dict[str, Any]:
    scored = [i for i in items.values() if ("clean", 0) in i["roles"] and ("adversarial", 0) in i["roles"]]
    n = len(scored)
    clean_correct = [i for i in scored if i["roles"][("clean", 0)] == "correct"]
    adv0 = lambda i: i["roles"][("adversarial", 0)]  # noqa: E731
    complete = [i for i in scored if all(("adversarial", r) in i["roles"] for r in range(rounds))]
    need = required_correct_rounds(rounds)
    queries = [role for i in items.values() for role in i["roles"].values()]
    result = {
        "n": n,
        "clean_acc": _pct(len(clean_correct), n),
        "adv_acc": _pct(sum(adv0(i) == "correct" for i in scored), n),
        "fr": _pct(sum(adv0(i) == "shortcut" for i in clean_correct), len(clean_correct)),
        "wfr": _pct(sum(adv0(i) != "correct" for i in clean_correct), len(clean_correct)),
        "t_acc": _pct(
            sum(sum(i["roles"][("adversarial", r)] == "correct" for r in range(rounds)) >= need for i in complete),
            len(complete),
        ),
        "invalid_rate": _pct(sum(role == "invalid" for role in queries), len(queries)),
        # Where the flips go: adversarial round-0 answers of clean-correct items, by role.
        "flips_to": {
            role: _pct(sum(adv0(i) == role for i in clean_correct), len(clean_correct))
            for role in ("correct", "shortcut", "incorrect", "invalid")
        },
    }
    if margins:
        result["shortcut_margin"] = sum(margins) / len(margins)
    return result


def compute(records: Iterable[Mapping[str, Any]], rounds: int | None = None) -> dict[str, dict[str, Any]]:
    """Metrics per perturbation (``intrinsic``, ``extrinsic``) and category.

    ``rounds`` defaults to the number of adversarial rounds seen in the records.

    >>> recs = [dict(item_id="a", perturbation="intrinsic", category="light", setting="clean", round=0, role="correct")]
    >>> recs += [dict(item_id="a", perturbation="intrinsic", category="light", setting="adversarial", round=r,
    ...               role=["shortcut", "correct", "correct", "correct"][r]) for r in range(4)]
    >>> m = compute(recs)["light"]
    >>> m["clean_acc"], m["adv_acc"], m["fr"], m["wfr"], m["t_acc"]
    (100.0, 0.0, 100.0, 100.0, 100.0)
    """
    records = list(records)
    if rounds is None:
        rounds = 1 + max((int(r["round"]) for r in records if r["setting"] == "adversarial"), default=0)
    metrics = {}
    for name, (field, value) in GROUPS.items():
        items: dict[str, dict] = defaultdict(lambda: {"roles": {}})
        margins = []
        for record in records:
            if record.get(field) != value:
                continue
            items[record["item_id"]]["roles"][(record["setting"], int(record["round"]))] = record["role"]
            if record["setting"] == "adversarial" and record.get("shortcut_margin") is not None:
                margins.append(float(record["shortcut_margin"]))
        metrics[name] = _group_metrics(items, rounds, margins)
    return metrics


def run_summary(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What a run cost and why answers are missing: HTTP requests and token usage summed over the
    queries that report them (API models), answers cut off at the token budget (``truncated``,
    and how many of them gave no answer), and invalid queries by reason.

    >>> s = run_summary([dict(role="correct", requests=1, usage={"prompt_tokens": 90, "completion_tokens": 700, "reasoning_tokens": 650}),
    ...                  dict(role="invalid", requests=2, truncated=True, invalid_reason="truncated", usage={"prompt_tokens": 90, "completion_tokens": 1024})])
    >>> s["requests"], s["usage"], s["truncated"], s["truncated_invalid"], s["invalid_by_reason"]
    (3, {'prompt_tokens': 180, 'completion_tokens': 1724, 'reasoning_tokens': 650}, 1, 1, {'truncated': 1})
    """
    records = list(records)
    usage: dict[str, int] = defaultdict(int)
    for record in records:
        for key, value in (record.get("usage") or {}).items():
            usage[key] += int(value or 0)
    truncated = [r for r in records if r.get("truncated")]
    invalid: dict[str, int] = defaultdict(int)
    for record in records:
        if record.get("role") == "invalid":
            invalid[record.get("invalid_reason") or ("error" if record.get("error") else "unparsed")] += 1
    return {
        "queries": len(records),
        "requests": sum(int(r.get("requests") or 0) for r in records),
        "usage": dict(usage),
        "truncated": len(truncated),
        "truncated_invalid": sum(r.get("role") == "invalid" for r in truncated),
        "invalid_by_reason": dict(invalid),
    }
