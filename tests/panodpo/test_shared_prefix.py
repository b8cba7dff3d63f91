"""The shared prefix computed once (panodpo/shared_prefix.py): per family of the matrix, with
gradient checkpointing off and on, the sequence log-probs on the shared-prefix path equal the
plain path's within 1e-5, and so do the LoRA and projector gradients (relative 1e-5); a hook on
the language model counts the positions it processes and finds the tree's size, not the plain
batch's; a family whose cache cannot be shared, or a first batch that disagrees with the plain
path, falls back with one logged line. Without checkpointing the batch also holds VistaDPO's
instance-level sequence y_l|v', which with y_w|v' forms a second group (the v' prefix run once);
with it, y_w|v' runs alone: both layouts of the tree are checked in every family.
"""

from __future__ import annotations

import logging
import warnings

import pytest
import torch

from panodpo import PanoDPOTrainer
from panodpo.model_parts import find_model_parts
from panodpo.shared_prefix import tree_token_count
from tests.support.families import family_params
from tests.support.family_trainers import make_family_trainer, two_examples
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

warnings.filterwarnings("ignore")


@pytest.fixture(scope="module")
def dataset(tiny_benchmark):
    return two_examples(tiny_benchmark)


def make_trainer(family, dataset, tmp_path, **overrides):
    return make_family_trainer(family, dataset, tmp_path, **overrides)


def logps_and_grads(trainer, batch, plain):
    model = trainer.model
    model.train()
    model.zero_grad()
    with torch.no_grad():  # the adapter off its zero start, so LoRA gradients are not trivially tied
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.linspace(-0.05, 0.05, parameter.numel()).view_as(parameter))
    logps, _ = trainer._sequence_logps(model, batch, plain=plain)
    (logps * torch.arange(1, logps.numel() + 1, dtype=logps.dtype).view_as(logps)).sum().backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    return logps.detach(), grads


class PositionCounter:
    """Counts the positions the language model processes (batch x length of its inputs)."""

    def __init__(self, model):
        self.count = 0
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        language_model = base.get_submodule(find_model_parts(base).language_model)
        self.handle = language_model.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        embeds = kwargs.get("inputs_embeds")
        if embeds is None:
            embeds = args[0] if args else kwargs.get("input_ids")
        self.count += int(embeds.shape[0] * embeds.shape[1])


def enable_checkpointing(trainer):
    trainer.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    from transformers.modeling_layers import GradientCheckpointingLayer

    layers = [m for m in trainer.model.modules() if isinstance(m, GradientCheckpointingLayer)]
    assert layers and all(m.gradient_checkpointing for m in layers)


def assert_shared_equals_plain(family, trainer, batch):
    """Log-probs and gradients equal on both paths, and the language model sees the tree's positions."""
    layout = batch["shared_prefix"]
    counter = PositionCounter(trainer.model)
    shared, shared_grads = logps_and_grads(trainer, batch, plain=False)
    tree = counter.count
    counter.count = 0
    plain, plain_grads = logps_and_grads(trainer, batch, plain=True)
    counter.handle.remove()
    assert torch.allclose(shared, plain, atol=1e-5, rtol=1e-5), (family, (shared - plain).abs().max().item())
    assert shared_grads.keys() <= plain_grads.keys() and any("lora" in n for n in shared_grads)
    for name, grad in plain_grads.items():
        if name not in shared_grads:
            # A weight the shared path never puts on the loss's graph: the last layer's at prefix
            # positions only (ERNIE's vision experts once every video sits in a prefix). Its plain-path
            # gradient is then exactly 0, since no prefix position is scored.
            assert not grad.any(), (family, name)
            continue
        scale = grad.abs().max().clamp_min(1e-8)
        assert (shared_grads[name] - grad).abs().max() / scale <= 1e-5, (family, name)
    expected = tree_token_count(batch["attention_mask"], layout["groups"], layout["prefix_lengths"], layout["solo_rows"])
    assert tree == expected and counter.count == batch["input_ids"].numel() and tree < counter.count, (family, tree, expected, counter.count)


@pytest.mark.parametrize("checkpointing", [False, True], ids=["no-gc", "gc"])
@pytest.mark.parametrize("family", family_params(trainable=True))
def test_shared_prefix_equals_the_plain_path(family, checkpointing, dataset, tmp_path):
    instance = 0.0 if checkpointing else 1.0  # both layouts per family, at the matrix's cost
    trainer = make_trainer(family, dataset, tmp_path, gradient_checkpointing=checkpointing, instance_loss_weight=instance)
    if not trainer.share_prefix_status["enabled"]:
        pytest.skip(f"{family}: the plain path, by design: {trainer.share_prefix_status['reason']}")
    if checkpointing:
        enable_checkpointing(trainer)
    batch = trainer.data_collator([dataset[i] for i in range(2)])
    layout = batch["shared_prefix"]
    if instance:
        # kinds y_w|v, y_l|v, y_w|v', y_w|q', y_l|v' (batch rows kind-major): per example a group with v
        # and a group with v', nothing alone.
        assert layout["groups"] == [[0, 2, 6], [1, 3, 7], [4, 8], [5, 9]] and layout["solo_rows"] == [], (family, layout["groups"])
    else:
        assert len(layout["groups"]) == 2 and layout["solo_rows"] == [4, 5], f"{family}: no example shares its prefix"
    assert_shared_equals_plain(family, trainer, batch)


def test_the_rejected_video_group_under_checkpointing_and_alone(dataset, tmp_path):
    # y_w|v' and y_l|v' sharing v' with gradient checkpointing on.
    trainer = make_trainer("qwen2_vl", dataset, tmp_path, gradient_checkpointing=True, instance_loss_weight=0.5, text_loss_weight=0.0)
    enable_checkpointing(trainer)
    batch = trainer.data_collator([dataset[i] for i in range(2)])
    assert batch["shared_prefix"]["groups"] == [[0, 2], [1, 3], [4, 6], [5, 7]]
    v_prefix, v_prime_prefix = batch["shared_prefix"]["prefix_lengths"][0], batch["shared_prefix"]["prefix_lengths"][2]
    assert v_prime_prefix == v_prefix  # v' has v's shape: the same prefix length, its own pixels
    assert not torch.equal(batch["shared_prefix"]["prefixes"][0]["pixel_values_videos"], batch["shared_prefix"]["prefixes"][2]["pixel_values_videos"])
    assert_shared_equals_plain("qwen2_vl", trainer, batch)
    # y_l|v' without y_w|v' (DPOv off): alone, no group of one.
    trainer = make_trainer("qwen2_vl", dataset, tmp_path / "alone", video_loss_weight=0.0, instance_loss_weight=1.0)
    batch = trainer.data_collator([dataset[i] for i in range(2)])
    assert trainer.rows == [0, 1, 3, 4] and batch["shared_prefix"]["solo_rows"] == [6, 7] and len(batch["shared_prefix"]["groups"]) == 2
    assert_shared_equals_plain("qwen2_vl", trainer, batch)


def test_vanilla_dpo_shares_the_whole_prompt(dataset, tmp_path):
    trainer = make_trainer("qwen2_vl", dataset, tmp_path, video_loss_weight=0.0, text_loss_weight=0.0)
    batch = trainer.data_collator([dataset[i] for i in range(2)])
    layout = batch["shared_prefix"]
    prompt = (batch["attention_mask"].bool() & ~batch["completion_mask"].bool()).sum(dim=1)
    # chosen and rejected share everything up to their answers (less the one token each keeps)
    assert layout["solo_rows"] == [] and layout["prefix_lengths"] == [int(prompt[0]) - 1, int(prompt[1]) - 1]
    shared, _ = logps_and_grads(trainer, batch, plain=False)
    plain, _ = logps_and_grads(trainer, batch, plain=True)
    assert torch.allclose(shared, plain, atol=1e-5, rtol=1e-5)


def test_a_training_step_on_the_shared_path_checks_itself_once(dataset, tmp_path):
    trainer = make_trainer("qwen2_vl", dataset, tmp_path, max_steps=2, per_device_train_batch_size=1)
    trainer.train()
    status = trainer.share_prefix_status
    assert status["enabled"] and status["checked"] and status["max_abs_difference"] <= status["tolerance"]
    assert any("share_prefix/max_abs_difference" in entry for entry in trainer.state.log_history)
    # Checked: later batches carry each video once (in the layout), not also for the plain path.
    later = trainer.data_collator([dataset[0]])
    assert not trainer.data_collator.carry_plain_video and not any(k.startswith(("pixel_values", "video_inputs")) for k in later)
    assert any(k.startswith("pixel_values") for k in later["shared_prefix"]["prefixes"][0])


def test_a_wrong_shared_path_is_caught_and_the_run_goes_plain(dataset, tmp_path, caplog, monkeypatch):
    trainer = make_trainer("qwen2_vl", dataset, tmp_path, max_steps=1, per_device_train_batch_size=2)
    original = PanoDPOTrainer._shared_prefix_logps

    def off_by_a_little(self, model, inputs):
        per_sequence, outputs = original(self, model, inputs)
        return per_sequence + 0.5, outputs  # e.g. a cache that drops a position

    monkeypatch.setattr(PanoDPOTrainer, "_shared_prefix_logps", off_by_a_little)
    with caplog.at_level(logging.WARNING, logger="panodpo.trainer"):
        trainer.train()
    assert not trainer.share_prefix_status["enabled"] and "differ from the plain path" in trainer.share_prefix_status["reason"]
    assert sum("switching this run to the plain path" in r.getMessage() for r in caplog.records) == 1
    assert not trainer.data_collator.share_prefix


def test_reentrant_checkpointing_is_refused_with_a_line(dataset, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="panodpo.trainer"):
        trainer = make_trainer("qwen2_vl", dataset, tmp_path, gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": True})
    assert not trainer.share_prefix_status["enabled"] and "reentrant" in trainer.share_prefix_status["reason"]
    assert "shared_prefix" not in trainer.data_collator([dataset[0]])
    assert any("uses the plain path" in r.getMessage() for r in caplog.records)
