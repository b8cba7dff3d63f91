"""Smoke tests of the tiny Gemma 4 unified, MiniMax-M3 VL and Nemotron 3 Nano Omni models (group C of this round)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.support.tiny_families import FAMILIES, build_tiny

from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

# family -> (the video placeholder the chat template writes, the end of the generation prompt)
LAYOUT = {
    "gemma4_unified": ("<|video|>", "<|turn>model\n"),
    "minimax_m3_vl": ("]<]video[>[", "]~b]ai\n"),
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


def _vision_width(config) -> int:
    # Gemma 4 unified has no vision tower: its patch embedding's width is ``mm_embed_dim``.
    vision = config.vision_config
    return getattr(vision, "mm_embed_dim", None) or vision.hidden_size


@pytest.fixture(scope="module", params=sorted(LAYOUT))
def tiny(request):
    return request.param, *build_tiny(request.param)


def test_real_classes_and_tiny_sizes(tiny):
    family, model, processor = tiny
    assert type(model).__name__ == FAMILIES[family].model_class
    text_config = model.config.text_config
    assert text_config.hidden_size == 16 and text_config.num_hidden_layers == 2
    assert _vision_width(model.config) != text_config.hidden_size  # as in every real checkpoint
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


def test_minimax_m3_template_turns():
    _, processor = build_tiny("minimax_m3_vl")
    text = processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert text == ("]~!b[]~b]system\nYou are a helpful assistant.[e~[\n]~b]developer\nAnswer with a letter.[e~[\n"
                    "]~b]user\n]<]video[>[Which order?\nA. x\nB. y[e~[\n]~b]ai\n")


def test_processor_forward_generate(tiny):
    family, model, processor = tiny
    inputs = _inputs(processor)
    assert (inputs["input_ids"] == model.config.video_token_id).sum() > 0
    with torch.no_grad():
        output = model(**inputs, use_cache=True)
    logits = output.logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] <= inputs["input_ids"].shape[1] + 3
    assert torch.equal(out[:, : inputs["input_ids"].shape[1]], inputs["input_ids"])
    if family == "gemma4_unified":  # frames concatenated on one axis, split back by count
        assert inputs["num_frames_per_video"].tolist() == [4] and inputs["pixel_values_videos"].shape[:2] == (4, 70)
        assert inputs["input_ids"].shape[1] > 4 * model.config.text_config.sliding_window
    if family == "minimax_m3_vl":  # the block-sparse layer's cache keeps the indexer keys too
        text_config = model.config.text_config
        assert [type(layer).__name__ for layer in output.cache.layers] == ["MiniMaxM3VLSparseCacheLayer", "DynamicLayer"]
        assert inputs["input_ids"].shape[1] > (text_config.index_topk_blocks + 1) * text_config.index_block_size  # sparse for real


def test_gemma4_unified_is_encoder_free_and_parts_found():
    from panodpo.model_parts import find_model_parts

    model, _ = build_tiny("gemma4_unified")
    assert not hasattr(model.model, "vision_tower") and not hasattr(model.model, "audio_tower")
    parts = find_model_parts(model)
    assert parts.encoders == ("model.embed_vision",)
    assert parts.projectors == ("model.embed_vision.multimodal_embedder",)
    assert parts.in_encoder("model.embed_vision.pos_embedding") and not parts.in_projector("model.embed_vision.pos_embedding")
    assert not parts.in_encoder("model.embed_audio.embedding_projection.weight")


def test_minimax_m3_frames_of_any_size_are_resized():
    from temrobbench.processor_inputs import video_kwargs

    _, processor = build_tiny("minimax_m3_vl")
    text = processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    frames = list(np.random.RandomState(0).randint(0, 255, (4, 50, 70, 3), dtype=np.uint8))  # not a multiple of 16
    assert video_kwargs([frames], processor)["do_resize"] is True
    inputs = processor(text=[text], return_tensors="pt", **video_kwargs([frames], processor))
    assert inputs["video_grid_thw"][0, 1] % 2 == 0 and inputs["video_grid_thw"][0, 2] % 2 == 0


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


def test_nemotron_h_omni_classes_sizes_and_layout():
    from transformers import NemotronHForCausalLM

    model, processor = build_tiny("nemotron_h_omni")
    assert type(model).__name__ == FAMILIES["nemotron_h_omni"].model_class and not model.training
    assert isinstance(model.language_model, NemotronHForCausalLM)
    text_config = model.config.text_config
    assert text_config.hidden_size == 16 and text_config.layers_block_type == ["linear_attention", "moe", "full_attention", "mlp"]
    assert model.config.vision_config.hidden_size != 16 and sum(p.numel() for p in model.parameters()) < 2_000_000
    assert processor.tokenizer.padding_side == "right"
    text = processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False, enable_thinking=False)
    assert text == ("<|im_start|>system\nAnswer with a letter.<|im_end|>\n<|im_start|>user\n<video>Which order?\nA. x\nB. y"
                    "<|im_end|>\n<|im_start|>assistant\n<think></think>")
    inputs = processor(text=[text], videos=[_frames()], return_tensors="pt", do_sample_frames=False)
    assert inputs["pixel_values_videos"].shape[:2] == (1, 2)  # 4 frames: 2 tubelets
    assert (inputs["input_ids"] == model.config.image_token_id).sum() > 0
    with torch.no_grad():
        output = model(**inputs, use_cache=True)
    assert torch.isfinite(output.logits).all()
    assert [type(layer).__name__ for layer in output.cache.layers][:3] == ["LinearAttentionLayer", "DummyLayer", "DynamicLayer"]
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert torch.equal(out[:, : inputs["input_ids"].shape[1]], inputs["input_ids"])
