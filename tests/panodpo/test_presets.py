"""Named objectives (panodpo/presets.py): each expands to its documented fields, from Python and from
``panodpo train --preset``, and a field given explicitly wins over the preset."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from panodpo.presets import OBJECTIVE_FIELDS, PRESETS, markdown_table, preset_fields

warnings.filterwarnings("ignore")

DOCS = Path(__file__).resolve().parents[2] / "docs" / "training.md"
REQUIRED = ("dpo", "panodpo", "mdpo", "vistadpo-instance", "panodpo-no-dpov", "panodpo-no-dpot")


def test_the_named_presets_exist_and_set_every_objective_field():
    assert set(REQUIRED) <= set(PRESETS)
    for name, preset in PRESETS.items():
        assert tuple(preset.fields) == OBJECTIVE_FIELDS, name
    assert preset_fields("dpo")["video_loss_weight"] == preset_fields("dpo")["text_loss_weight"] == 0.0
    assert (preset_fields("panodpo-no-dpov")["video_loss_weight"], preset_fields("panodpo-no-dpov")["text_loss_weight"]) == (0.0, 1.0)
    assert (preset_fields("panodpo-no-dpot")["video_loss_weight"], preset_fields("panodpo-no-dpot")["text_loss_weight"]) == (1.0, 0.0)
    fields = preset_fields("mdpo")
    assert (fields["video_loss_weight"], fields["text_loss_weight"], fields["anchor_loss_weight"], fields["anchor_margin"]) == (1.0, 0.0, 1.0, 0.0)
    fields = preset_fields("vistadpo-instance")
    assert (fields["video_loss_weight"], fields["instance_loss_weight"], fields["anchor_loss_weight"]) == (0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        preset_fields("nope")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_from_preset_builds_the_config_and_overrides_win(name, tmp_path):
    from panodpo import PanoDPOConfig

    config = PanoDPOConfig.from_preset(name, output_dir=str(tmp_path))
    for key, value in preset_fields(name).items():
        assert getattr(config, key) == value, (name, key)
    overridden = PanoDPOConfig.from_preset(name, output_dir=str(tmp_path), anchor_loss_weight=0.5, loss_type="ipo", beta=0.2)
    assert (overridden.anchor_loss_weight, overridden.loss_type, overridden.beta) == (0.5, ["ipo"], 0.2)


BASE = ["--model", "m", "--data", "d", "--output_dir", "out"]


def test_cli_preset_expands_and_explicit_flags_win():
    from panodpo.cli import parse_train_args

    script, config = parse_train_args(BASE + ["--preset", "mdpo", "--anchor_loss_weight", "0.5"])
    assert script.preset == "mdpo"
    assert config.anchor_loss_weight == 0.5  # the explicit flag, not the preset's 1.0
    assert (config.video_loss_weight, config.text_loss_weight, config.rejected_video_strategy) == (1.0, 0.0, "random_resized_crop")
    # A flag before --preset wins too: the preset's flags go first, whatever the order given.
    _, config = parse_train_args(["--text_loss_weight", "0.25"] + BASE + ["--preset", "mdpo"])
    assert config.text_loss_weight == 0.25
    _, config = parse_train_args(BASE + ["--preset", "panodpo", "--loss_type", "ipo"])
    assert config.loss_type == ["ipo"] and config.video_loss_weight == config.text_loss_weight == 1.0
    _, plain = parse_train_args(BASE)
    assert plain.anchor_loss_weight == 0.0 and plain.instance_loss_weight == 0.0  # no preset: the defaults


def test_an_unknown_preset_is_one_line():
    from panodpo.cli import with_preset
    from temrobbench.utils.errors import UserError

    with pytest.raises(UserError) as caught:
        with_preset(BASE + ["--preset", "simpo"])
    line = caught.value.line()
    assert line.startswith("error: unknown preset 'simpo' (--preset simpo): choose one of dpo, panodpo") and "\n" not in line


def test_the_docs_table_is_the_presets_table():
    text = DOCS.read_text(encoding="utf-8")
    assert markdown_table() in text, "docs/training.md's preset table differs from panodpo.presets.markdown_table()"
    section = text.split("## Objectives", 1)[1].split("\n## ", 1)[0]
    for source in ("arXiv:2406.11839", "mdpo_trainer.py", "arXiv:2504.13122", "trl/trainer/dpo_trainer.py", "modeling_bunny_phi.py"):
        assert source in section, source
