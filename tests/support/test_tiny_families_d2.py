"""Smoke tests of the tiny MiniCPM-V 4.6, MiniCPM-V 4.7, MiniCPM-OCR and Cosmos3 Edge builders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from temrobbench.processor_inputs import token_type_switches, video_kwargs
from tests.support.tiny_families import FAMILIES, build_tiny
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

NOTHINK = "<|im_start|>assistant\n<think>\n\n</think>\n\n"
# family -> (the video placeholder the chat template writes, the end of the generation prompt)
LAYOUT = {
    "minicpmv4_6": ("<|video_pad|>", NOTHINK),
    "minicpmv4_7": ("<|video_pad|>", NOTHINK),
    "minicpm_ocr": ("<|video_pad|>", NOTHINK),
    "cosmos3_edge": ("<|vision_start|><|video_pad|><|vision_end|>", "<|im_start|>assistant\n"),
}
FRAME = {
    "minicpmv4_6": "<image>" + "<|video_pad|>" * 4 + "</image>",
    "minicpmv4_7": "<image>" + "<|video_pad|>" * 4 + "</image>",
    "minicpm_ocr": "<image>" + "<|video_pad|>" * 4 + "</image>",
    "cosmos3_edge": "<|vision_start|>" + "<|video_pad|>" * 4 + "<|vision_end|>",
}
MESSAGES = [
    {"role": "system", "content": "Answer with a letter."},
    {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Which order?\nA. x\nB. y"}]},
]
NUM_FRAMES = 4


def _frames(n=NUM_FRAMES):
    return list(np.random.RandomState(0).randint(0, 255, (n, 48, 64, 3), dtype=np.uint8))


def _text(processor):
    return processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False, enable_thinking=False)


def _inputs(processor, model, texts=None):
    """As the hf: adapter and the PanoDPO collator call the processor for ``model``."""
    texts = texts or [_text(processor)]
    return processor(text=texts, **video_kwargs([_frames()] * len(texts), processor), **token_type_switches(processor, model),
                     return_tensors="pt", padding=True)


@pytest.fixture(scope="module", params=sorted(LAYOUT))
def tiny(request):
    return request.param, *build_tiny(request.param)


def test_real_classes_and_tiny_sizes(tiny):
    family, model, processor = tiny
    assert type(model).__name__ == FAMILIES[family].model_class
    assert type(processor).__name__ == FAMILIES[family].model_class.replace("ForConditionalGeneration", "Processor")
    text_config, vision_config = model.config.text_config, model.config.vision_config
    assert text_config.hidden_size == 16 and text_config.num_hidden_layers == 2
    assert vision_config.hidden_size != text_config.hidden_size
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    assert processor.tokenizer.padding_side == "right"
    assert not model.training


def test_chat_template_layout(tiny):
    family, _, processor = tiny
    placeholder, generation_prompt = LAYOUT[family]
    text = _text(processor)
    assert text.endswith(generation_prompt)
    assert text.count(placeholder) == 1 and text.index(placeholder) < text.index("Which order?")
    assert text.index("Answer with a letter.") < text.index(placeholder)
    no_system = processor.apply_chat_template(MESSAGES[1:], add_generation_prompt=True, tokenize=False, enable_thinking=False)
    assert "Answer with a letter." not in no_system and no_system.endswith(generation_prompt)
    assert not processor.apply_chat_template(MESSAGES, tokenize=False).endswith(generation_prompt)


def test_every_frame_is_its_own_block(tiny):
    family, model, processor = tiny
    inputs = _inputs(processor, model)
    text = processor.tokenizer.decode(inputs["input_ids"][0])
    assert text.count(FRAME[family]) == NUM_FRAMES, text
    if family == "minicpmv4_6" or family == "minicpm_ocr":  # the video's local id, once, before its frames
        assert text.count("<image_id>0</image_id><image>") == 1
    if family == "minicpmv4_7":
        assert "<image_id>" not in text and (inputs["mm_token_type_ids"] == 2).sum() == 4 * NUM_FRAMES
    if family == "cosmos3_edge":  # one timestamp per frame (24 fps assumed for bare frames)
        assert text.count(" seconds><|vision_start|>") == NUM_FRAMES and "<0.0 seconds>" in text
        assert (inputs["mm_token_type_ids"] == 2).sum() == 4 * NUM_FRAMES


def test_processor_forward_generate(tiny):
    family, model, processor = tiny
    texts = [_text(processor), _text(processor).replace("Which order?", "Which order is shown?")]
    inputs = _inputs(processor, model, texts)
    if family.startswith("minicpm"):  # every frame of the batch packed into one NaViT row
        assert inputs["pixel_values_videos"].shape[0] == 1 and inputs["target_sizes_videos"].shape[0] == 2 * NUM_FRAMES
    assert (inputs["input_ids"] == model.config.video_token_id).sum() == 2 * 4 * NUM_FRAMES
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert torch.equal(out[:, : inputs["input_ids"].shape[1]], inputs["input_ids"])


def test_save_and_load_round_trip(tiny, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    _, model, processor = tiny
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    processor2 = AutoProcessor.from_pretrained(tmp_path)
    model2 = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert type(processor2) is type(processor) and type(model2) is type(model)
    inputs, inputs2 = _inputs(processor, model), _inputs(processor2, model2)
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


def test_cosmos3_edge_asks_its_processor_for_the_token_types_its_model_needs():
    model, processor = build_tiny("cosmos3_edge")
    assert processor.return_mm_token_type_ids is False  # transformers' default for this processor
    assert token_type_switches(processor, model) == {"return_mm_token_type_ids": True}
    with pytest.raises(ValueError, match="mm_token_type_ids"):  # what a caller that does not ask gets
        model(**processor(text=[_text(processor)], **video_kwargs([_frames()], processor), return_tensors="pt"))
    for family in ("qwen2_vl", "minicpmv4_6"):  # returned by default; a model that takes none
        assert token_type_switches(*reversed(build_tiny(family))) == {}
