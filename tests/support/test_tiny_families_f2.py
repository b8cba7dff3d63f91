"""Smoke tests of the tiny Cohere Compass, Muse Glimmer and Muse Spark models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.support.tiny_families import FAMILIES, build_tiny

from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture

# family -> (the video placeholder the chat template writes, the end of the generation prompt)
LAYOUT = {
    "cohere_compass": ("<|VISION_START|><|VIDEO_PAD|><|VISION_END|>", "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>"),
    "muse_glimmer": ("<|start|>user<|message|><|video|>", "<|eot|><|start|>assistant"),
    "muse_spark": ("<|start|>user<|message|><|video|>", "<|eot|><|start|>assistant"),
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
    # every family here: a sliding layer then a full-attention layer without rotary embeddings (NoPE)
    assert text_config.layer_types == ["sliding_attention", "full_attention"]


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
    answered = processor.apply_chat_template(MESSAGES + [{"role": "assistant", "content": "A"}], tokenize=False)
    if family == "cohere_compass":
        assert answered.endswith("<|CHATBOT_TOKEN|><|START_RESPONSE|>A<|END_RESPONSE|><|END_OF_TURN_TOKEN|>")
        assert text.startswith("<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Answer with a letter.<|END_OF_TURN_TOKEN|>")
    else:  # the hub template: the answer goes to the user channel; a default system prompt when none is given
        assert answered.endswith("<|start|>assistant to=user<|message|>A<|eot|>")
        assert no_system.startswith("<|begin_of_text|><|start|>system<|message|>You are a helpful AI assistant.")
        assert "Reasoning strength: high." in text


def test_the_adapter_prompt_ends_where_the_answer_starts(tiny):
    """Muse's generation prompt stops before the channel: ``hf:`` (and the collator, which renders the
    same prompt: tests/panodpo/test_prompt_parity.py) add the user channel header the template writes
    before every answer, unless thinking; Cohere's generation prompt already ends at the answer."""
    from temrobbench.processor_inputs import chat_prompt
    from temrobbench.prompt import video_chat_messages

    family, _, processor = tiny
    messages = video_chat_messages("Which order?", "Answer with a letter.")
    generation_prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    answered = processor.apply_chat_template(messages + [{"role": "assistant", "content": "A"}], tokenize=False)
    prompt = chat_prompt(processor, messages)
    assert answered.startswith(prompt + "A")
    if family == "cohere_compass":
        assert prompt == generation_prompt
    else:
        assert prompt == generation_prompt + " to=user<|message|>"
        assert chat_prompt(processor, messages, enable_thinking=True) == generation_prompt  # the model picks its channel


def test_processor_expands_the_video(tiny):
    family, model, processor = tiny
    inputs = _inputs(processor)
    ids = inputs["input_ids"][0].tolist()
    text = processor.tokenizer.decode(ids)
    n_video = (inputs["input_ids"] == model.config.video_token_id).sum().item()
    groups = int(inputs["video_grid_thw"][0, 0])  # one group per 2 frames
    assert groups == 2 and n_video == int(inputs["video_grid_thw"][0].prod()) // 4
    if family == "cohere_compass":  # Qwen3-VL's layout; M-RoPE reads mm_token_type_ids
        assert text.count("seconds><|VISION_START|>") == groups
        assert (inputs["mm_token_type_ids"] == 2).sum().item() == n_video
    else:  # 1D positions: no token types
        assert "mm_token_type_ids" not in inputs
        assert text.count("Time: ") == groups and text.count("<|vid_frame_separator|>") == groups - 1
        assert "<|vid_start|>Time: 0.0s<|video|>" in text and text.count("<|vid_end|>") == 1
    # the video prefix is longer than the sliding window, as with real frame counts
    assert inputs["input_ids"].shape[1] > 4 * model.config.text_config.sliding_window


def test_processor_forward_generate(tiny):
    _, model, processor = tiny
    inputs = _inputs(processor)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] <= inputs["input_ids"].shape[1] + 3
    assert torch.equal(out[:, : inputs["input_ids"].shape[1]], inputs["input_ids"])


def test_family_structure(tiny):
    family, model, _ = tiny
    if family == "cohere_compass":
        assert model.config.text_config.rope_parameters["full_attention"] is None  # NoPE
        assert model.config.text_config.logit_scale is not None
        assert len(model.model.visual.deepstack_merger_list) == 1
    else:
        assert model.config.text_config.layer_rope_theta[-1] == 0  # NoPE
        assert hasattr(model.model, "vision_adapter") and hasattr(model.model, "vision_projection")
    if family == "muse_spark":
        assert model.config.text_config.mlp_layer_types == ["dense", "sparse"]
        assert model.model.language_model.layers[1].mlp.experts.gate_up_proj.ndim == 3
        assert hasattr(model.model, "audio_tower")


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
