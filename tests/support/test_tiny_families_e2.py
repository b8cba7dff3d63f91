"""Smoke tests of the tiny HY-4-VL and HyperCLOVA X Vision V2 builders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from temrobbench.processor_inputs import template_switches, video_kwargs
from tests.support.tiny_families import FAMILIES, build_tiny
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

HY_VIDEO = "<｜hy_place▁holder▁no▁100｜><|video_pad|><｜hy_place▁holder▁no▁101｜>"
HCX_VIDEO = ('<|im_start|>user (mime)\n{"type": "video/mp4", "filename": "", "video_duration": <|video_duration|>}<|im_end|>\n'
             "<|im_start|>user (vector)\n<|vision_start|><|video_pad|><|vision_end|><|im_end|>\n")
# family -> (the video block the chat template writes, the end of the generation prompt with the project's switches)
LAYOUT = {
    "hy_v4_vl": (HY_VIDEO, "<｜hy_Assistant｜><think>\n\n</think>\n"),
    "hyperclovax_vision_v2": (HCX_VIDEO, "<|im_start|>assistant\n<think>\n\n</think>\n\n"),
}
MESSAGES = [
    {"role": "system", "content": "Answer with a letter."},
    {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Which order?\nA. x\nB. y"}]},
]


def _frames(n=4, seed=0):
    return list(np.random.RandomState(seed).randint(0, 255, (n, 48, 64, 3), dtype=np.uint8))


def _text(processor, messages=MESSAGES):
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **template_switches(processor))


def _inputs(processor, texts=None, videos=None):
    """As the hf: adapter and the PanoDPO collator call the processor."""
    texts = texts or [_text(processor)]
    videos = videos or [_frames()] * len(texts)
    return processor(text=texts, **video_kwargs(videos, processor), return_tensors="pt", padding=True)


@pytest.fixture(scope="module", params=sorted(LAYOUT))
def tiny(request):
    return request.param, *build_tiny(request.param)


def test_real_classes_and_tiny_sizes(tiny):
    family, model, processor = tiny
    assert type(model).__name__ == FAMILIES[family].model_class
    assert type(processor).__name__ == FAMILIES[family].model_class.replace("ForConditionalGeneration", "Processor")
    text_config, vision_config = model.config.text_config, model.config.vision_config
    assert text_config.hidden_size == 16 and text_config.num_hidden_layers == 2
    assert vision_config.hidden_size != text_config.hidden_size  # as in every real checkpoint
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    assert processor.tokenizer.padding_side == "right"
    assert not model.training


def test_chat_template_layout(tiny):
    family, _, processor = tiny
    video, generation_prompt = LAYOUT[family]
    text = _text(processor)
    assert text.endswith(generation_prompt)
    assert text.count(video) == 1 and text.index(video) < text.index("Which order?")
    assert text.index("Answer with a letter.") < text.index(video)
    no_system = _text(processor, MESSAGES[1:])
    assert "Answer with a letter." not in no_system and no_system.endswith(generation_prompt)
    answered = processor.apply_chat_template(MESSAGES + [{"role": "assistant", "content": "A"}], tokenize=False,
                                             **template_switches(processor))
    assert not answered.endswith(generation_prompt) and answered.rstrip().endswith(processor.tokenizer.eos_token)


def test_thinking_switch(tiny):
    family, _, processor = tiny
    assert template_switches(processor) == {"hy_v4_vl": {"reasoning_effort": "no_think"},
                                            "hyperclovax_vision_v2": {"thinking": False}}[family]
    thinking = processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False, **template_switches(processor, True))
    assert "</think>" not in thinking  # the model thinks on its own


def test_processor_forward_generate(tiny):
    family, model, processor = tiny
    inputs = _inputs(processor)
    assert (inputs["input_ids"] == model.config.video_token_id).sum() > 0
    with torch.no_grad():
        out = model(**inputs)
    assert out.logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(out.logits).all()
    generated = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert generated.shape[1] <= inputs["input_ids"].shape[1] + 3
    assert torch.equal(generated[:, : inputs["input_ids"].shape[1]], inputs["input_ids"])
    if family == "hy_v4_vl":  # DSA-indexed MLA in every layer; M-RoPE from the token types
        assert [type(layer).__name__ for layer in out.cache.layers] == ["DynamicIndexedLayer"] * 2
        assert (inputs["mm_token_type_ids"] == 2).sum() == (inputs["input_ids"] == model.config.video_token_id).sum()
        assert inputs["input_ids"].shape[1] > model.config.text_config.index_topk  # the indexer selects keys


def test_hy_v4_vl_newline_token_per_merged_row():
    _, processor = build_tiny("hy_v4_vl")
    inputs = _inputs(processor)
    t, h, w = inputs["video_grid_thw"][0].tolist()
    merge = processor.video_processor.merge_size
    assert (inputs["input_ids"] == processor.video_token_id).sum() == t * (h // merge) * (w // merge + 1)


def test_hyperclovax_writes_each_videos_duration_into_the_prompt():
    _, processor = build_tiny("hyperclovax_vision_v2")
    tokenizer = processor.tokenizer
    placeholder = tokenizer.convert_tokens_to_ids("<|video_duration|>")
    texts = [_text(processor)] * 2
    inputs = _inputs(processor, texts, [_frames(4), _frames(8, seed=1)])  # bare frames: 24 fps assumed
    assert (inputs["input_ids"] == placeholder).sum() == 0
    decoded = tokenizer.batch_decode(inputs["input_ids"])
    assert '"video_duration": 0.17}' in decoded[0] and '"video_duration": 0.33}' in decoded[1]


def test_hyperclovax_duration_is_the_source_videos_when_frames_carry_their_timing():
    from temrobbench.evaluation.frames import SampledFrames

    _, processor = build_tiny("hyperclovax_vision_v2")
    frames = SampledFrames(_frames(4))  # 4 frames sampled from a 10 s clip at 30 fps
    frames.video_metadata = {"fps": 30.0, "total_num_frames": 300, "frames_indices": [37, 112, 187, 262]}
    inputs = _inputs(processor, [_text(processor)], [frames])
    assert '"video_duration": 10.0}' in processor.tokenizer.decode(inputs["input_ids"][0])


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
