"""Smoke tests of the tiny models of group A (new this round): Qwen3.5-MoE, Qwen4-Exp, the Qwen
Omni thinkers, Cosmos3-Omni and dots3.note. Real classes and tiny sizes, the chat template's layout,
one forward and generate through the processor, a save/load round trip and seeded weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.support.families import family_params
from tests.support.tiny_families import FAMILIES, build_tiny

from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

# family -> (the video placeholder the chat template writes, the end of the generation prompt)
LAYOUT = {
    "qwen3_5_moe": ("<|vision_start|><|video_pad|><|vision_end|>", "<|im_start|>assistant\n<think>\n"),
    "qwen4_exp": ("<|vision_start|><|video_pad|><|vision_end|>", "<|im_start|>assistant\n<think>\n"),
    "qwen2_5_omni": ("<|vision_bos|><|VIDEO|><|vision_eos|>", "<|im_start|>assistant\n"),
    "qwen3_omni_moe": ("<|vision_start|><|video_pad|><|vision_end|>", "<|im_start|>assistant\n"),
    "cosmos3_omni": ("<|vision_start|><|video_pad|><|vision_end|>", "<|im_start|>assistant\n"),
    "dots3_note": ("<|video_pad|>", "<|response|>"),
}
MESSAGES = [
    {"role": "system", "content": "Answer with a letter."},
    {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Which order?\nA. x\nB. y"}]},
]


def _frames(n=4):
    return list(np.random.RandomState(0).randint(0, 255, (n, 48, 64, 3), dtype=np.uint8))


def _inputs(processor, n=4):
    text = processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    return processor(text=[text], videos=[_frames(n)], return_tensors="pt", padding=True, do_sample_frames=False)


@pytest.fixture(scope="module", params=[p for p in family_params() if p.values[0] in LAYOUT])
def tiny(request):
    return request.param, *build_tiny(request.param)


def test_real_classes_and_tiny_sizes(tiny):
    family, model, processor = tiny
    assert type(model).__name__ == FAMILIES[family].model_class
    # an omni family's tiny model is its thinker, which keeps a type of its own (what hf: loads of the checkpoint)
    assert model.config.model_type in (family, f"{family}_thinker")
    text_config, vision_config = model.config.get_text_config(), model.config.vision_config
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


OMNI = {"qwen2_5_omni": ("Qwen2_5OmniConfig", "Qwen2_5OmniForConditionalGeneration"),
        "qwen3_omni_moe": ("Qwen3OmniMoeConfig", "Qwen3OmniMoeForConditionalGeneration")}


@pytest.mark.parametrize("family", [p for p in family_params() if p.values[0] in OMNI])
def test_hf_loads_the_thinker_of_an_omni_checkpoint(family, tmp_path):
    """An omni checkpoint (model_type qwen2_5_omni / qwen3_omni_moe, weights under ``thinker.``, which
    AutoModelForImageTextToText does not map) loads through ``hf:`` as its thinker, with the same weights."""
    import transformers

    from temrobbench.evaluation.models.hf import load_hf

    thinker, processor = build_tiny(family)
    config_class, model_class = (getattr(transformers, name) for name in OMNI[family])
    # The speech output (talker, token2wav) is left out, as enable_audio_output=False does on the hub.
    omni = model_class(config_class(thinker_config=thinker.config.to_dict(), enable_audio_output=False)).eval()
    omni.thinker.load_state_dict(thinker.state_dict())
    omni.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert transformers.AutoConfig.from_pretrained(tmp_path).model_type == family

    lm = load_hf(str(tmp_path), dtype="float32")
    assert type(lm.model) is type(thinker) and lm.model.config.model_type == f"{family}_thinker"
    inputs = _inputs(processor)
    with torch.no_grad():
        assert torch.allclose(lm.model(**inputs).logits, thinker(**inputs).logits, atol=1e-5)
