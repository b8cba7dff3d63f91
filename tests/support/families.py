"""The model-family matrix as pytest parameters (tests.support.tiny_families.FAMILIES)."""

from __future__ import annotations

import importlib.util

import pytest

from temrobbench.family_support import REFUSED
from tests.support.tiny_families import FAMILIES


def _available(family: str) -> bool:
    module = importlib.util.find_spec(f"tests.support.tiny_families.{family}")
    return module is not None and all(importlib.util.find_spec(r) for r in FAMILIES[family].requires)


def family_params(trainable: bool = False):
    """Every family as a pytest param; ``trainable=True`` skips those PanoDPO refuses (their
    refusal is asserted in tests/panodpo/test_model_parts.py)."""
    params = []
    for name, family in FAMILIES.items():
        marks = [pytest.mark.skipif(not _available(name), reason=f"{name}: tiny builder or {family.requires} missing")]
        refusal = REFUSED.get(family.model_type)
        if refusal is not None and not refusal.training_only:
            marks.append(pytest.mark.skip(reason=f"{name}: hf: refuses it ({refusal.reason})"))
        blocker = family.panodpo_blocker or (refusal.reason if refusal is not None else "")
        if trainable and blocker:
            marks.append(pytest.mark.skip(reason=f"{name}: PanoDPO refuses it ({blocker})"))
        params.append(pytest.param(name, marks=marks))
    return params
