"""temrobbench.metrics.compute on hand-built records, against hand-computed values."""

from __future__ import annotations

import pytest

from temrobbench.metrics import compute


def item(item_id, clean, adversarial, perturbation="intrinsic", category="light", margins=None):
    records = [dict(item_id=item_id, perturbation=perturbation, category=category, setting="clean", round=0, role=clean)]
    for r, role in enumerate(adversarial):
        record = dict(item_id=item_id, perturbation=perturbation, category=category, setting="adversarial", round=r, role=role)
        if margins:
            record["shortcut_margin"] = margins[r]
        records.append(record)
    return records


def test_hand_computed_example():
    records = (
        item("a", "correct", ["shortcut", "correct", "correct", "correct"])  # flips to shortcut, T-Acc yes
        + item("b", "correct", ["incorrect", "incorrect", "correct", "correct"])  # weak flip only, T-Acc no
        + item("c", "correct", ["correct", "correct", "correct", "shortcut"])  # holds, T-Acc yes
        + item("d", "incorrect", ["correct", "correct", "correct", "correct"])  # not clean-correct
        + item("e", "invalid", ["invalid", "shortcut", "invalid", "invalid"], category="severe")
    )
    m = compute(records)
    light = m["light"]
    assert light["n"] == 4
    assert light["clean_acc"] == pytest.approx(75.0)  # a, b, c of 4
    assert light["adv_acc"] == pytest.approx(50.0)  # c, d
    assert light["fr"] == pytest.approx(100 / 3)  # a of {a, b, c}
    assert light["wfr"] == pytest.approx(200 / 3)  # a, b of {a, b, c}
    assert light["t_acc"] == pytest.approx(75.0)  # a, c, d
    assert light["invalid_rate"] == 0.0
    assert light["flips_to"]["shortcut"] == pytest.approx(100 / 3) and light["flips_to"]["incorrect"] == pytest.approx(100 / 3)
    intrinsic = m["intrinsic"]
    assert intrinsic["n"] == 5
    assert intrinsic["clean_acc"] == pytest.approx(60.0)
    assert intrinsic["invalid_rate"] == pytest.approx(100 * 4 / 25)  # 4 invalid of 25 queries
    assert m["severe"]["fr"] is None and m["severe"]["clean_acc"] == 0.0  # invalid counts as wrong
    assert m["extrinsic"]["n"] == 0 and m["extrinsic"]["clean_acc"] is None


def test_no_clean_correct_items_gives_none_flip_rates():
    m = compute(item("a", "incorrect", ["shortcut"] * 4) + item("b", "shortcut", ["correct"] * 4))
    assert m["intrinsic"]["fr"] is None and m["intrinsic"]["wfr"] is None
    assert m["intrinsic"]["adv_acc"] == 50.0 and m["intrinsic"]["t_acc"] == 50.0


def test_all_invalid():
    m = compute(item("a", "invalid", ["invalid"] * 4, "extrinsic", "absolute") + item("b", "invalid", ["invalid"] * 4, "extrinsic", "relative"))
    e = m["extrinsic"]
    assert e["clean_acc"] == 0.0 and e["adv_acc"] == 0.0 and e["t_acc"] == 0.0
    assert e["invalid_rate"] == 100.0 and e["fr"] is None


def test_t_acc_needs_all_rounds_and_three_of_four():
    m = compute(item("a", "correct", ["correct", "correct", "shortcut", "shortcut"]) + item("b", "correct", ["correct", "correct"]), rounds=4)
    assert m["light"]["t_acc"] == 0.0  # a: 2 of 4; b: incomplete, not scored
    assert compute(item("a", "correct", ["correct"]), rounds=1)["light"]["t_acc"] == 100.0


def test_shortcut_margin_is_the_mean_over_adversarial_queries():
    m = compute(item("a", "correct", ["correct"] * 4, margins=[1.0, 2.0, -1.0, 0.0]))
    assert m["light"]["shortcut_margin"] == pytest.approx(0.5)
    assert "shortcut_margin" not in compute(item("a", "correct", ["correct"] * 4))["light"]
