"""PanoDPO over the model-family matrix: two steps on a tiny random model of every family.

Per family: the vision encoder's weights stay unchanged, the projector and every LoRA weight
change, and LoRA covers every linear layer of the language model (and MoE experts' fused
weights, through PEFT's ``target_parameters``). The parts are found from the model's structure
(:mod:`panodpo.model_parts`), so a family whose projector sits elsewhere is caught here.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from datasets import Dataset

from panodpo import PanoDPOConfig, PanoDPOTrainer, default_lora_config
from panodpo.model_parts import find_model_parts
from temrobbench.family_support import REFUSED
from temrobbench.utils.errors import UserError
from tests.support.tiny_families import FAMILIES, build_tiny
from tests.support.families import family_params
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

warnings.filterwarnings("ignore")


@pytest.fixture(scope="module")
def dataset(tiny_benchmark):
    videos = sorted(str(p) for p in (tiny_benchmark / "videos").glob("*/clean.mp4"))[:2]
    return Dataset.from_list([
        {"id": f"ex{i}", "video": v, "prompt": "<video>\nWhich step comes first?", "chosen": "cut bread", "rejected": "add ham",
         "rejected_prompt": "The video opens with adding ham. Which step comes first?"}
        for i, v in enumerate(videos)
    ])


def _cannot_reach_the_loss(family: str, name: str, text_config) -> bool:
    # ERNIE-4.5-VL routes video tokens to vision experts: in the last layer their output only feeds
    # the video positions' final states, which no response token reads, so no gradient reaches them.
    last = text_config.num_hidden_layers - 1
    if family == "ernie4_5_vl_moe" and f"layers.{last}.mlp.vision_moe." in name:
        return True
    # A DSA (sparse attention) indexer's projections only choose which keys each query reads: its
    # output is integer top-k indices, so no gradient reaches them (GLM-5-Next; DeepSeek-V3.2 trains
    # it with a separate distillation loss).
    return ".self_attn.indexer." in name


@pytest.mark.parametrize("family", family_params())
def test_a_panodpo_step_trains_lora_and_projector_and_freezes_the_vision_encoder(family, dataset, tmp_path):
    model, processor = build_tiny(family, seed=1)
    parts = find_model_parts(model)
    lm_linears = {n for n, m in model.get_submodule(parts.language_model).named_modules() if isinstance(m, torch.nn.Linear)}
    args = PanoDPOConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=2, report_to=[], num_frames=4,
                         gradient_checkpointing=False, save_strategy="no", learning_rate=5e-2, warmup_ratio=0.0, seed=0,
                         rejected_video_strategy="shuffle")
    peft_config = default_lora_config(model, r=4, alpha=8, dropout=0.0)
    refusal = REFUSED.get(FAMILIES[family].model_type)
    if refusal is not None:  # refused at load, with the reason, in one line
        with pytest.raises(UserError, match=f"PanoDPOTrainer does not support {FAMILIES[family].model_type} yet"):
            PanoDPOTrainer(model, args=args, train_dataset=dataset, processing_class=processor, peft_config=peft_config)
        return
    if FAMILIES[family].panodpo_blocker:  # cannot be trained correctly yet: refused, never a silent partial run
        with pytest.raises(ValueError, match="without LoRA"):
            PanoDPOTrainer(model, args=args, train_dataset=dataset, processing_class=processor, peft_config=peft_config)
        return
    trainer = PanoDPOTrainer(model, args=args, train_dataset=dataset, processing_class=processor, peft_config=peft_config)
    peft_model = trainer.model
    base = peft_model.get_base_model()
    # (Two steps: LoRA B starts at zero, so A gets no gradient on the first.)
    # LoRA sits on every linear layer of the language model.
    lm = base.get_submodule(parts.language_model)
    with_lora = {n for n, m in lm.named_modules() if hasattr(m, "lora_A") and not isinstance(m, torch.nn.Linear)}
    missing = {n for n in lm_linears if n not in with_lora}
    assert not missing, f"{family}: language-model linear layers without LoRA: {sorted(missing)[:5]}"
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    trainable = {n for n, p in base.named_parameters() if p.requires_grad}
    trainer.train()
    assert all(math.isfinite(e["loss"]) for e in trainer.state.log_history if "loss" in e)
    after = dict(base.named_parameters())
    changed = {n for n in before if not torch.equal(before[n], after[n].detach())}
    encoder = {n for n in before if parts.in_encoder(n) and not parts.in_projector(n)}
    assert encoder and not (encoder & changed), f"{family}: vision-encoder weights changed: {sorted(encoder & changed)[:3]}"
    projector = {n for n in trainable if parts.in_projector(n)}
    assert projector and projector <= changed, f"{family}: projector weights unchanged: {sorted(projector - changed)[:3]}"
    lora = {n for n in trainable if "lora_" in n and not _cannot_reach_the_loss(family, n, model.config.get_text_config())}
    assert lora and lora <= changed, f"{family}: LoRA weights unchanged: {sorted(lora - changed)[:3]}"
    assert changed <= trainable, f"{family}: frozen weights changed: {sorted(changed - trainable)[:3]}"
