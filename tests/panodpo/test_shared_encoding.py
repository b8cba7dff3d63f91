"""The video encoded once per example: v and v' go through the vision tower (and projector) once
each, and their features reach all the sequences that share them through the model's own
precomputed-features input (``mm_encoder_outputs``); families without that path fall back to
encoding the video of every sequence.

Per family of ``tests.support.tiny_families``: the 4 sequence log-probs with shared encoding equal
the plain path's, and so do the gradients of the projector and LoRA weights.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from panodpo.model_parts import find_model_parts
from panodpo.shared_encoding import frozen_encoder_modules
from tests.support.families import family_params
from tests.support.family_trainers import make_family_trainer, two_examples
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

warnings.filterwarnings("ignore")

#: Families whose videos go in as images (no get_video_features): the plain path, always.
FALLBACK = {"smolvlm", "internvl", "perception_lm"}


@pytest.fixture(scope="module")
def dataset(tiny_benchmark):
    return two_examples(tiny_benchmark)


def make_trainer(family, dataset, tmp_path, **overrides):
    # The plain path's shared encoding (the shared-prefix path encodes each video once by construction).
    return make_family_trainer(family, dataset, tmp_path, **{"share_prefix": False, **overrides})


def logps_and_grads(trainer, batch):
    model = trainer.model
    model.zero_grad()
    # Move the adapter off its zero initialization so LoRA gradients are not trivially tied.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.linspace(-0.05, 0.05, parameter.numel()).view_as(parameter))
    logps, _ = trainer._sequence_logps(model, batch)
    (logps * torch.arange(1, logps.numel() + 1, dtype=logps.dtype).view_as(logps)).sum().backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    return logps.detach(), grads


@pytest.mark.parametrize("family", family_params(trainable=True))
def test_shared_encoding_equals_the_plain_path(family, dataset, tmp_path):
    trainer = make_trainer(family, dataset, tmp_path)
    examples = [dataset[i] for i in range(2)]
    collator = trainer.data_collator
    if family in FALLBACK:
        assert trainer._video_encoder is None and not collator.share_video_encoding
        assert "video_index" not in collator(examples)  # the plain path is taken
        return
    assert trainer._video_encoder is not None and collator.share_video_encoding, f"{family}: no shared encoding"
    shared_batch = collator(examples)
    assert "pixel_values_videos" not in shared_batch and shared_batch["video_index"].tolist() == [0, 1, 0, 1, 2, 3, 0, 1]
    shared, shared_grads = logps_and_grads(trainer, shared_batch)
    collator.share_video_encoding = False
    plain, plain_grads = logps_and_grads(trainer, collator(examples))
    assert torch.allclose(shared, plain, atol=1e-5, rtol=1e-5), (family, (shared - plain).abs().max().item())
    parts = find_model_parts(trainer.model)
    projector = [n for n in plain_grads if parts.in_projector(n.replace("base_model.model.", "", 1))]
    assert projector and set(shared_grads) == set(plain_grads), family  # gradients reach the projector both ways
    for name, grad in plain_grads.items():
        assert torch.allclose(shared_grads[name], grad, atol=1e-5, rtol=1e-4), (family, name, (shared_grads[name] - grad).abs().max().item())


class TowerInputs:
    """Size of what the vision tower really computes on, per pass (patches: it scales with the videos):
    seen by the first layer of its patch embedding, which a reused (replayed) tower output skips."""

    def __init__(self, model):
        self.sizes = []
        first = frozen_encoder_modules(model)[0]
        encoder = next(m for m in first.modules() if not list(m.children()) and list(m.parameters()))
        encoder.register_forward_pre_hook(lambda module, args, kwargs: self.sizes.append(next(
            t for t in list(args) + list(kwargs.values()) if torch.is_tensor(t) and t.is_floating_point()).shape[0]), with_kwargs=True)


@pytest.mark.parametrize("video_weight, per_example", [(1.0, 2), (0.0, 1)])
def test_vision_tower_encodes_each_video_once_per_step(dataset, tmp_path, video_weight, per_example):
    trainer = make_trainer("qwen2_vl", dataset, tmp_path, max_steps=2, video_loss_weight=video_weight, precompute_ref_log_probs=True)
    one = trainer.data_collator([dataset[0]])["video_inputs"]
    per_video = one["pixel_values_videos"].shape[0] // len(one["video_grid_thw"])  # patches of one video
    tower = TowerInputs(trainer.model)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    # One tower call per step (the reference is precomputed), over 2 videos per example (v, v'), 1 without v'.
    assert tower.sizes == [2 * per_example * per_video] * 2
    assert all(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters() if p.requires_grad and n in before and "lora_A" not in n)


def test_plain_path_when_turned_off(dataset, tmp_path):
    trainer = make_trainer("qwen2_vl", dataset, tmp_path, share_video_encoding=False, max_steps=1)
    one = trainer.data_collator([dataset[0]])
    per_video = one["pixel_values_videos"].shape[0] // len(one["video_grid_thw"])
    tower = TowerInputs(trainer.model)
    trainer.train()
    assert tower.sizes == [4 * 2 * per_video] * 2  # reference and policy forwards, a video per sequence (4 x batch 2), no reuse



def test_live_reference_runs_the_frozen_tower_once_per_step(dataset, tmp_path):
    """With a live reference forward the frozen tower's outputs are reused by the policy forward:
    one tower pass per step, and the loss is the one computed without reuse."""
    trainer = make_trainer("qwen2_vl", dataset, tmp_path, max_steps=2, logging_steps=1)
    one = trainer.data_collator([dataset[0]])["video_inputs"]
    per_video = one["pixel_values_videos"].shape[0] // len(one["video_grid_thw"])
    batch = trainer.data_collator([dataset[i] for i in range(2)])
    tower = TowerInputs(trainer.model)
    with torch.no_grad():
        reused = trainer.compute_loss(trainer.model, batch)
        assert tower.sizes == [2 * 2 * per_video]  # v and v' of 2 examples, once for both forwards
        reuse, trainer._encoder_reuse = trainer._encoder_reuse, None
        computed = trainer.compute_loss(trainer.model, batch)
        trainer._encoder_reuse = reuse
    assert torch.allclose(reused, computed, atol=1e-6)
    tower.sizes.clear()
    trainer.train()
    assert tower.sizes == [2 * 2 * per_video] * 2
    assert trainer.state.log_history[0]["loss"] == pytest.approx(3 * math.log(2), rel=1e-4)
