"""Refused and non-generative families fail at load with one line, in evaluation and in training."""

from __future__ import annotations

import pytest

from temrobbench import family_support
from temrobbench.family_support import NOT_GENERATIVE, REFUSED, Refusal, check_family
from temrobbench.utils.errors import UserError


def test_every_video_processor_family_is_proven_refused_or_not_generative():
    """Each model type with a video processor in the installed transformers is accounted for."""
    from transformers.models.auto.video_processing_auto import VIDEO_PROCESSOR_MAPPING_NAMES

    from tests.support.tiny_families import FAMILIES

    proven = {f.model_type for f in FAMILIES.values()}
    unaccounted = sorted(set(VIDEO_PROCESSOR_MAPPING_NAMES) - proven - set(REFUSED) - set(NOT_GENERATIVE))
    assert not unaccounted, f"families with a video processor in neither the matrix nor the refusals: {unaccounted}"


def test_not_generative_refused_in_one_line():
    with pytest.raises(UserError) as err:
        check_family("vivit", training=False, subject="hf:google/vivit-b-16x2")
    line = err.value.line()
    assert "\n" not in line and line.startswith("error: vivit is a video classifier") and "(hf:google/vivit-b-16x2)" in line


def test_training_only_refusal_still_evaluates(monkeypatch):
    monkeypatch.setitem(family_support.REFUSED, "made_up_vl", Refusal("its experts cannot take LoRA", "train without PEFT", training_only=True))
    check_family("made_up_vl", training=False)
    with pytest.raises(UserError, match="PanoDPOTrainer does not support made_up_vl yet: its experts cannot take LoRA"):
        check_family("made_up_vl", training=True)


def test_hf_adapter_refuses_before_reading_weights(monkeypatch, tmp_path):
    from transformers import Qwen2VLConfig

    from temrobbench.evaluation.models.hf import HFVideoLM

    monkeypatch.setitem(family_support.REFUSED, "qwen2_vl", Refusal("planted for the test", "use another family"))
    Qwen2VLConfig().save_pretrained(tmp_path)  # a config and no weights: a load would fail differently
    with pytest.raises(UserError, match="hf: does not support qwen2_vl yet: planted for the test"):
        HFVideoLM.from_pretrained(str(tmp_path))


def test_docs_list_every_refused_and_not_generative_family():
    from tests.support.paths import REPO

    text = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    section = text[text.index("### Refused families"):text.index("## Servers")]
    for model_type in [*REFUSED, *NOT_GENERATIVE]:
        assert f"`{model_type}`" in section, model_type
