"""Smoke tests of the tiny GLM-5-Next, GLM-GA, Kimi-K2.5, LFM3-VL and EXAONE 4.5 models (group B)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.support.tiny_families import FAMILIES, build_tiny

from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

# family -> (the video placeholder the chat template writes, the end of the generation prompt)
LAYOUT = {
    "glm5_next": ("<|begin_of_video|><|video|><|end_of_video|>", "<|assistant|>\n"),
    "glmga": ("<|begin_of_video|><|video|><|end_of_video|>", "<|assistant|>\n"),
    "kimi_k25": ("<|kimi_k25_video_placeholder|>", "<|im_assistant|>assistant<|im_middle|><think>"),
    "lfm3_vl": ("<|video_pad|>", "<|im_start|>assistant\n"),
    "exaone4_5": ("<|vision_start|><|video_pad|><|vision_end|>", "[|assistant|]"),
}
#: Families whose video frames are written with the image token, typed 2 by ``mm_token_type_ids``.
VIDEO_AS_IMAGE_TOKENS = {"glm5_next", "glmga"}
MESSAGES = [
    {"role": "system", "content": "Answer with a letter."},
    {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Which order?\nA. x\nB. y"}]},
]


def _frames(n=4):
    return list(np.random.RandomState(0).randint(0, 255, (n, 48, 64, 3), dtype=np.uint8))


def _inputs(processor, n=4):
    text = processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    return processor(text=[text], videos=[_frames(n)], return_tensors="pt", padding=True, do_sample_frames=False)


@pytest.fixture(scope="module", params=sorted(LAYOUT))
def tiny(request):
    return request.param, *build_tiny(request.param)


def test_real_classes_and_tiny_sizes(tiny):
    family, model, processor = tiny
    assert type(model).__name__ == FAMILIES[family].model_class
    assert model.config.model_type == family  # each module is named after its config's model_type
    text_config, vision_config = model.config.text_config, model.config.vision_config
    assert text_config.hidden_size == 16 and text_config.num_hidden_layers == 2
    assert vision_config.hidden_size != text_config.hidden_size  # as in every real checkpoint
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    assert processor.tokenizer.padding_side == "right"
    assert not model.training


def test_chat_template_layout(tiny):
    family, _, processor = tiny
    placeholder, generation_prompt = LAYOUT[family]
    text = processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert text.endswith(generation_prompt)
    assert text.count(placeholder) == 1 and text.index(placeholder) < text.index("Which order?")
    assert text.index("Answer with a letter.") < text.index(placeholder)
    no_system = processor.apply_chat_template(MESSAGES[1:], add_generation_prompt=True, tokenize=False)
    assert "Answer with a letter." not in no_system and no_system.endswith(generation_prompt)
    assert not processor.apply_chat_template(MESSAGES, tokenize=False).endswith(generation_prompt)


def test_processor_forward_generate(tiny):
    family, model, processor = tiny
    inputs = _inputs(processor)
    if family in VIDEO_AS_IMAGE_TOKENS:
        assert (inputs["mm_token_type_ids"] == 2).sum() > 0
    else:
        assert (inputs["input_ids"] == model.config.video_token_id).sum() > 0
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] <= inputs["input_ids"].shape[1] + 3
    assert torch.equal(out[:, : inputs["input_ids"].shape[1]], inputs["input_ids"])


def test_save_and_load_round_trip(tiny, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    _, model, processor = tiny
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    processor2 = AutoProcessor.from_pretrained(tmp_path)
    model2 = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert type(processor2) is type(processor) and type(model2) is type(model)
    assert type(processor2.video_processor) is type(processor.video_processor)
    inputs, inputs2 = _inputs(processor), _inputs(processor2)
    assert torch.equal(inputs["input_ids"], inputs2["input_ids"])
    with torch.no_grad():
        assert torch.allclose(model(**inputs).logits, model2(**inputs2).logits, atol=1e-5)


def test_same_seed_same_weights(tiny):
    family, model, _ = tiny
    again, _ = build_tiny(family, seed=0)
    other, _ = build_tiny(family, seed=1)
    state, state_again, state_other = model.state_dict(), again.state_dict(), other.state_dict()
    assert all(torch.equal(state[k], state_again[k]) for k in state)
    assert any(not torch.equal(state[k], state_other[k]) for k in state)


def test_recurrent_and_indexed_caches_are_what_the_fast_paths_see():
    """GLM-5-Next's KDA + DSA layers and LFM3-VL's short convolutions: not croppable (``hf:`` copies the
    prefix cache per query) and not shareable (PanoDPO's shared prefix goes plain); Kimi-K2.5's MLA
    and EXAONE 4.5's attention layers are plain KV layers."""
    from panodpo.shared_prefix import unsupported_reason

    for family, layers, shareable in [("glm5_next", ["LinearAttentionLayer", "DynamicIndexedLayer"], False),
                                      ("lfm3_vl", ["LinearAttentionLayer", "DynamicLayer"], False),
                                      ("kimi_k25", ["DynamicLayer", "DynamicLayer"], True),
                                      ("exaone4_5", ["DynamicSlidingWindowLayer", "DynamicLayer"], True)]:
        model, processor = build_tiny(family)
        with torch.no_grad():
            cache = model(**_inputs(processor), use_cache=True)["cache"]
        assert [type(layer).__name__ for layer in cache.layers] == layers, family
        reason = unsupported_reason(model, gradient_checkpointing=False, checkpointing_kwargs=None)
        assert (reason is None) == shareable, (family, reason)


def test_kimi_thinking_switch_is_passed_by_its_own_name():
    from temrobbench.processor_inputs import template_switches

    _, processor = build_tiny("kimi_k25")
    switches = template_switches(processor)
    assert switches == {"thinking": False}
    text = processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False, **switches)
    assert text.endswith("<|im_assistant|>assistant<|im_middle|><think></think>")


def test_glmga_is_its_own_model_type_on_glm46v_classes():
    """``glmga`` is a config model type (``GlmgaConfig``), mapped to GLM-4.6V's model classes, with
    its own image and video processors inside GLM-4.6V's processor (transformers has no GLM-GA processor)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    assert type(AutoConfig.for_model("glmga")).__name__ == "GlmgaConfig"
    assert MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES["glmga"] == "Glm46VForConditionalGeneration"
    _, processor = build_tiny("glmga")
    assert (type(processor).__name__, type(processor.video_processor).__name__) == ("Glm46VProcessor", "GlmgaVideoProcessor")


def test_the_router_expert_count_alias_lasts_one_forward():
    """TRL's fused forward reads ``text_config.num_experts``; DeepSeek-style configs name it ``n_routed_experts``."""
    from panodpo.trainer import _expert_count_for_trl

    model, _ = build_tiny("kimi_k25")
    text_config = model.config.get_text_config()
    assert getattr(text_config, "num_experts", None) is None
    with _expert_count_for_trl(model, True):
        assert text_config.num_experts == text_config.n_routed_experts == 4
    assert "num_experts" not in text_config.__dict__ and "num_experts" not in text_config.to_dict()
    with _expert_count_for_trl(model, False):
        assert getattr(text_config, "num_experts", None) is None
