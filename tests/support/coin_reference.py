"""Real COIN facts from ``../shared/data/coin`` (task taxonomy, step order of 11,827 videos), laid
out as COIN.json annotations. Times are not part of the reference data, so segments are made up
(seeded); everything about labels, recurrence and order is real."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from tests.support.paths import REPO

COIN_DIR = REPO.parent / "shared" / "data" / "coin"


def require_coin_reference() -> Path:
    if not (COIN_DIR / "step_sequences.csv").is_file():
        pytest.skip(f"COIN reference data not found at {COIN_DIR}")
    return COIN_DIR


def coin_database(seed: int = 0) -> dict:
    """A COIN.json ``database`` built from the real step sequences, with seeded segment times."""
    root = require_coin_reference()
    step_names: dict[str, str] = {}
    recipe_of_task: dict[str, str] = {}
    with open(root / "taxonomy.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            step_names[row["step_id"]] = row["step"]
            recipe_of_task[row["task"]] = row["task_id"]
    rng = random.Random(seed)
    database = {}
    with open(root / "step_sequences.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            t = round(rng.uniform(0, 10), 2)
            annotation = []
            for step_id in row["step_ids"].split():
                length = round(rng.uniform(3, 20), 2)
                annotation.append({"id": step_id, "segment": [t, round(t + length, 2)], "label": step_names[step_id]})
                t = round(t + length + rng.uniform(0, 6), 2)
            database[row["video_id"]] = {
                "recipe_type": recipe_of_task.get(row["task"], ""),
                "class": row["task"],
                "subset": "training",
                "duration": round(t + 5, 2),
                "annotation": annotation,
            }
    return database
