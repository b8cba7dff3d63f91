"""Frozen prompt text (lmms-eval style): any change to what models see must be deliberate.

Regenerate after an intended change with ``UPDATE_SNAPSHOTS=1 python -m pytest tests/temrobbench/test_prompt.py``
and review the diff.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import pytest

from temrobbench.items.ets import build_ets_absolute_item, build_ets_relative_item
from temrobbench.items.its import build_its_item
from temrobbench.prompt import render_prompt, rotation

SNAPSHOTS = Path(__file__).parent / "snapshots"
EVENTS = ["clean metal", "clamp pieces", "weld", "chip slag", "Weld", "grind seam"]
TASK_STEPS = {"ArcWeld": EVENTS + ["cool down"]}


def _row(item, setting):
    version = getattr(item, setting)
    return {"question": item.question, "options": list(item.options), "descriptions": list(version.descriptions), "option_roles": list(version.option_roles)}


CASES = {
    "its_light": lambda: build_its_item("snap01", "ArcWeld", EVENTS, "light", 0),
    "its_severe": lambda: build_its_item("snap01", "ArcWeld", EVENTS, "severe", 0),
    "ets_absolute": lambda: build_ets_absolute_item("snap01", EVENTS, 0),
    "ets_relative": lambda: build_ets_relative_item("snap01", "ArcWeld", EVENTS, TASK_STEPS, 0),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("setting", ["clean", "adversarial"])
@pytest.mark.parametrize("round_index", [0, 1])
def test_prompt_snapshot(case, setting, round_index):
    item = CASES[case]()
    rendered = render_prompt(_row(item, setting), rotation(4, round_index))
    text = rendered.text + "\n---\nroles: " + " ".join(rendered.roles) + "\n"
    path = SNAPSHOTS / f"{case}-{setting}-r{round_index}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing snapshot {path}; run with UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text(encoding="utf-8")


def test_rotation_moves_the_correct_option_through_every_letter():
    item = CASES["its_light"]()
    letters = set()
    for r in range(4):
        rendered = render_prompt(_row(item, "adversarial"), rotation(4, r))
        letters.add(rendered.letter_of_role("correct"))
        assert rendered.role_of_letter(rendered.letter_of_role("shortcut")) == "shortcut"
    assert letters == {"A", "B", "C", "D"}
