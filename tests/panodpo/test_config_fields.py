"""Every DPOConfig field is honoured (and where), refused with an error naming it, or Trainer's; and
the two TRL behaviours PanoDPO once dropped: ``loss_weights`` and the MoE router auxiliary loss."""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings

import pytest
import torch
from datasets import Dataset
from transformers import TrainingArguments
from trl import DPOConfig

from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
from panodpo.config import REFUSED_DPO_FIELDS
from panodpo.loss import PAIRWISE_LOSS_TYPES, REFUSED_LOSS_TYPES, panodpo_loss
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

warnings.filterwarnings("ignore")

#: DPOConfig fields (beyond TrainingArguments') PanoDPO honours, and where.
HONOURED = {
    "beta": "panodpo.loss.panodpo_loss, from PanoDPOTrainer._compute_loss",
    "loss_type": "panodpo.loss.panodpo_loss: every pairwise TRL type on every term (the others refused, panodpo.loss.REFUSED_LOSS_TYPES)",
    "loss_weights": "panodpo.loss.panodpo_loss: per term, sum of each loss type's mean times its weight (TRL's rule)",
    "label_smoothing": "panodpo.loss.pairwise_loss, for loss_type robust and exo_pair (refused with the other types)",
    "discopop_tau": "panodpo.loss.pairwise_loss, for loss_type discopop (refused with the other types)",
    "router_aux_loss_coef": "PanoDPOTrainer._compute_loss: + coef * aux_loss of the policy forward (TRL sets the coefficient in __init__)",
    "max_length": "PanoDPOCollator: responses truncated, never prompts",
    "precompute_ref_log_probs": "PanoDPOTrainer._precompute_ref_logps (and v' fixed to epoch 0)",
    "precompute_ref_batch_size": "TRL's dataloaders pass it to PanoDPOTrainer._precompute_ref_logps",
    "disable_dropout": "TRL's DPOTrainer.__init__",
    "model_init_kwargs": "TRL's DPOTrainer.__init__ (a model given by name)",
    "trust_remote_code": "TRL's DPOTrainer.__init__ (a model given by name)",
    "activation_offloading": "TRL's DPOTrainer.training_step (not overridden)",
    "sync_ref_model": "TRL's SyncRefModelCallback (TRL refuses it with PEFT or a precomputed reference)",
    "ref_model_mixup_alpha": "TRL's SyncRefModelCallback with sync_ref_model=True (refused without it)",
    "ref_model_sync_steps": "TRL's SyncRefModelCallback with sync_ref_model=True (refused without it)",
}

#: DPOConfig fields PanoDPO refuses: a non-default value that must raise ValueError naming the field.
REFUSED = {
    "loss_type": "nca_pair",
    "use_weighting": True,
    "ld_alpha": 0.5,
    "f_divergence_type": "forward_kl",
    "f_alpha_divergence_coef": 0.3,
    "label_smoothing": 0.1,
    "discopop_tau": 0.1,
    "dataset_num_proc": 2,
    "truncation_mode": "keep_end",
    "padding_free": True,
    "pad_to_multiple_of": 8,
    "pad_token": "<pad>",
    "ref_model_mixup_alpha": 0.5,
    "ref_model_sync_steps": 10,
}
# Honoured with sync_ref_model=True; with the loss types that take them; loss_type: its pairwise values.
CONDITIONALLY_HONOURED = {"ref_model_mixup_alpha", "ref_model_sync_steps", "label_smoothing", "discopop_tau", "loss_type"}


def test_every_dpo_config_field_is_in_the_table():
    trainer_fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    dpo_fields = {f.name for f in dataclasses.fields(DPOConfig)}
    own = dpo_fields - trainer_fields
    unlisted = own - set(HONOURED) - set(REFUSED)
    assert not unlisted, f"DPOConfig fields neither honoured nor refused by PanoDPO (a new TRL field?): {sorted(unlisted)}"
    assert not (set(HONOURED) | set(REFUSED)) - own, "the table lists fields DPOConfig no longer has"
    assert set(HONOURED) & set(REFUSED) == CONDITIONALLY_HONOURED
    assert set(REFUSED) == set(REFUSED_DPO_FIELDS) | {"loss_type"}  # the config's refusals are the table's
    # The rest is TrainingArguments', handled by Trainer.
    assert dpo_fields - own <= trainer_fields


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_fields_raise_naming_the_field(name, tmp_path):
    default = next(f for f in dataclasses.fields(DPOConfig) if f.name == name)
    with pytest.raises(ValueError, match=name):
        PanoDPOConfig(output_dir=str(tmp_path), **{name: REFUSED[name]})
    assert REFUSED[name] != (default.default if default.default is not dataclasses.MISSING else default.default_factory())


def test_honoured_fields_take_other_values(tmp_path):
    config = PanoDPOConfig(output_dir=str(tmp_path), loss_weights=[0.5], router_aux_loss_coef=0.1, precompute_ref_batch_size=2,
                           disable_dropout=False, sync_ref_model=True, ref_model_mixup_alpha=0.5, ref_model_sync_steps=10,
                           model_init_kwargs={"dtype": "float32"})
    assert config.loss_weights == [0.5] and config.router_aux_loss_coef == 0.1
    with pytest.raises(ValueError, match="loss_weights"):  # TRL: one weight per loss type
        PanoDPOConfig(output_dir=str(tmp_path), loss_weights=[0.5, 0.5])
    combined = PanoDPOConfig(output_dir=str(tmp_path), loss_type=["sigmoid", "robust", "discopop"], loss_weights=[1.0, 0.5, 0.2],
                             label_smoothing=0.1, discopop_tau=0.1)
    assert combined.loss_type == ["sigmoid", "robust", "discopop"] and combined.label_smoothing == 0.1 and combined.discopop_tau == 0.1
    assert PanoDPOConfig(output_dir=str(tmp_path), loss_type="exo_pair", label_smoothing=1e-3).loss_type == ["exo_pair"]
    with pytest.raises(ValueError, match="label_smoothing"):  # EXO needs it, as TRL says
        PanoDPOConfig(output_dir=str(tmp_path), loss_type="exo_pair")
    with pytest.raises(ValueError, match="label_smoothing"):  # the sigmoid type takes none
        PanoDPOConfig(output_dir=str(tmp_path), loss_type="ipo", label_smoothing=0.1)


@pytest.mark.parametrize("loss_type", sorted(REFUSED_LOSS_TYPES))
def test_loss_types_that_cannot_apply_are_refused_in_one_line(loss_type, tmp_path):
    with pytest.raises(ValueError) as caught:
        PanoDPOConfig(output_dir=str(tmp_path), loss_type=["sigmoid", loss_type])
    message = str(caught.value)
    assert f"loss_type={loss_type!r}" in message and REFUSED_LOSS_TYPES[loss_type] in message and "\n" not in message


def test_every_trl_loss_type_is_honoured_or_refused():
    import re

    from trl.trainer import dpo_trainer

    source = open(dpo_trainer.__file__, encoding="utf-8").read()
    trl_types = set(re.findall(r'loss_type == "([a-z_]+)"', source))  # the branches of TRL's loss
    ours = set(PAIRWISE_LOSS_TYPES) | set(REFUSED_LOSS_TYPES)
    assert trl_types and trl_types == ours, f"a TRL loss type PanoDPO neither applies nor refuses (or one TRL dropped): {trl_types ^ ours}"


def test_new_objective_fields_are_validated(tmp_path):
    for name in ("video_loss_weight", "text_loss_weight", "instance_loss_weight", "anchor_loss_weight"):
        with pytest.raises(ValueError, match=name):
            PanoDPOConfig(output_dir=str(tmp_path), **{name: -0.5})
    config = PanoDPOConfig(output_dir=str(tmp_path), instance_loss_weight=0.5, anchor_loss_weight=0.3, anchor_margin=0.1)
    assert (config.instance_loss_weight, config.anchor_loss_weight, config.anchor_margin) == (0.5, 0.3, 0.1)


@pytest.fixture(scope="module")
def dataset(tiny_benchmark):
    videos = sorted(str(p) for p in (tiny_benchmark / "videos").glob("*/clean.mp4"))
    return Dataset.from_list([
        {"id": f"ex{i}", "video": v, "prompt": "<video>\nWhich step comes first?", "chosen": "cut bread", "rejected": "add ham",
         "rejected_prompt": "The video opens with adding ham. Which step comes first?"}
        for i, v in enumerate(videos[:2])
    ])


def _trainer(model, processor, dataset, tmp_path, **overrides):
    settings = dict(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2, report_to=[], num_frames=4,
                    gradient_checkpointing=False, save_strategy="no", seed=0)
    settings.update(overrides)
    return PanoDPOTrainer(model, args=PanoDPOConfig(**settings), train_dataset=dataset, processing_class=processor,
                          peft_config=default_lora_config(model, r=4, alpha=8, dropout=0.0))


def test_loss_weights_multiply_the_loss_as_trl_does(dataset, tmp_path):
    from temrobbench.tiny_models import build_tiny_qwen2vl

    model, processor = build_tiny_qwen2vl(seed=1)
    trainer = _trainer(model, processor, dataset, tmp_path, loss_weights=[0.25])
    trainer.model.eval()
    batch = trainer.data_collator([dataset[i] for i in range(2)])
    loss = trainer._compute_loss(trainer.model, batch, False)
    # Policy == reference before any step (LoRA starts at zero): each of the 3 terms is log 2.
    assert loss.item() == pytest.approx(0.25 * 3 * math.log(2), rel=1e-4)
    assert trainer._metrics["eval"]["dpo/loss"][-1] == pytest.approx(math.log(2), rel=1e-4)  # metrics unweighted, as TRL's


def test_a_list_of_loss_types_reaches_every_term_in_the_trainer(dataset, tmp_path):
    from temrobbench.tiny_models import build_tiny_qwen2vl

    model, processor = build_tiny_qwen2vl(seed=1)
    trainer = _trainer(model, processor, dataset, tmp_path, loss_type=["sigmoid", "ipo"], loss_weights=[0.25, 1.0], beta=0.1)
    trainer.model.eval()
    loss = trainer._compute_loss(trainer.model, trainer.data_collator([dataset[i] for i in range(2)]), False)
    # Policy == reference: every margin 0, so per term sigmoid gives log 2 and IPO (0 - 1/(2 beta))^2 = 25.
    assert loss.item() == pytest.approx(3 * (0.25 * math.log(2) + 25.0), rel=1e-4)
    for term in ("dpo", "dpov", "dpot"):
        assert trainer._metrics["eval"][f"{term}/loss_ipo"][-1] == pytest.approx(25.0, rel=1e-4)


def _plain_model_kwargs(trainer, examples):
    """The batch of the same examples for one plain forward over every sequence, with the videos in
    the model's own inputs (no shared prefix, no shared encoding)."""
    collator = trainer.data_collator
    saved = collator.share_prefix, collator.share_video_encoding
    collator.share_prefix = collator.share_video_encoding = False
    try:
        batch = collator(examples)
    finally:
        collator.share_prefix, collator.share_video_encoding = saved
    kwargs = {k: v for k, v in batch.items() if k not in ("completion_mask", "ref_logps")}
    return kwargs


@pytest.mark.parametrize("share_prefix", [True, False])
def test_moe_router_aux_loss_is_added_as_trl_adds_it(dataset, tmp_path, share_prefix, caplog):
    from tests.support.tiny_families import build_tiny

    model, processor = build_tiny("qwen3_vl_moe", seed=2)
    assert hasattr(model.config.get_text_config(), "output_router_logits")
    coef = 0.5
    trainer = _trainer(model, processor, dataset, tmp_path, router_aux_loss_coef=coef, share_prefix=share_prefix)
    assert trainer.aux_loss_enabled and trainer.router_aux_loss_coef == coef  # TRL's __init__ decides, as for DPOTrainer
    trainer.model.eval()
    examples = [dataset[i] for i in range(2)]
    batch = trainer.data_collator(examples)
    with caplog.at_level(logging.WARNING, logger="panodpo.trainer"):
        loss = trainer._compute_loss(trainer.model, batch, False)
    if share_prefix:
        assert trainer.share_prefix_status["enabled"], trainer.share_prefix_status  # the reference keeps the shared prefix
        assert any("policy forward uses the plain path" in r.getMessage() for r in caplog.records)

    # By hand: the loss without aux (TRL's sigmoid loss over PanoDPO's terms), plus coef times the
    # aux loss the model itself returns from one forward over all the sequences.
    with torch.no_grad():
        ref = trainer.compute_ref_log_probs(trainer.model, batch)
        policy, _ = trainer._sequence_logps(trainer.model, batch, plain=True)
        own = trainer.model(**_plain_model_kwargs(trainer, examples), output_router_logits=True, use_cache=False)
    assert own.aux_loss is not None and own.aux_loss.item() > 0
    without_aux, _ = panodpo_loss(policy, ref, beta=trainer.beta, video_weight=1.0, text_weight=1.0)
    assert loss.item() == pytest.approx(without_aux.item() + coef * own.aux_loss.item(), rel=1e-5, abs=1e-6)
    assert trainer._metrics["eval"]["aux_loss"][-1] == pytest.approx(own.aux_loss.item(), rel=1e-5)

    # Off (coefficient 0): TRL adds nothing, and neither does PanoDPO.
    model, processor = build_tiny("qwen3_vl_moe", seed=2)
    off = _trainer(model, processor, dataset, tmp_path / "off", router_aux_loss_coef=0.0, share_prefix=share_prefix)
    assert not off.aux_loss_enabled
    off.model.eval()
    assert off._compute_loss(off.model, off.data_collator(examples), False).item() == pytest.approx(without_aux.item(), rel=1e-5)
