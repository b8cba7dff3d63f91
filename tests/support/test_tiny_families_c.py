"""Smoke tests of the tiny GLM-4.5V, GLM-4.6V, ERNIE-4.5-VL and Molmo2 builders.

GLM-4.5V and ERNIE-4.5-VL are built here but not in ``FAMILIES`` (see the report in their module
docstrings: PanoDPO's LoRA targets and the ``hf:`` adapter do not handle them yet), so the modules
are imported directly.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from tests.support.tiny_families import FAMILIES
from tests.support.torch_threads import one_torch_thread  # noqa: F401  (module fixture: one torch thread)

SYSTEM, QUESTION = "Be brief.", "Which order?"
GLM = "<|begin_of_video|><|video|><|end_of_video|>"

# Rendered [system, user(video, text)] with add_generation_prompt=True, laid out as each hub checkpoint's.
RENDERED = {
    "glm4v_moe": f"[gMASK]<sop><|system|>\nBe brief.<|user|>\n{GLM}Which order?<|assistant|>\n",
    "glm46v": f"[gMASK]<sop><|system|>\nBe brief.<|user|>\n{GLM}Which order?<|assistant|>\n",
    "ernie4_5_vl_moe": (
        "<|begin_of_sentence|>Be brief.\nUser: Video 1:<|VIDEO_START|><|VIDEO_PLACEHOLDER|><|VIDEO_END|>Which order?"
        "\nAssistant: <think>\n\n</think>\n\n"
    ),
    "molmo2": "<|im_start|>user\n<|video|>Which order?<|im_end|>\n<|im_start|>assistant\n",  # no system role
}
USER_MARKER = {"glm4v_moe": "<|user|>", "glm46v": "<|user|>", "ernie4_5_vl_moe": "User: "}
MODEL_CLASS = {"glm4v_moe": "Glm4vMoeForConditionalGeneration", "glm46v": "Glm46VForConditionalGeneration",
               "ernie4_5_vl_moe": "Ernie4_5_VLMoeForConditionalGeneration", "molmo2": "Molmo2ForConditionalGeneration"}
# Where the frames go, which token carries them, and how many per 4 frames at the default frame size.
VISUAL = {
    "glm4v_moe": ("pixel_values_videos", "<|image|>", 8),  # 4 per pair of frames
    "glm46v": ("pixel_values_videos", "<|image|>", 8),
    "ernie4_5_vl_moe": ("pixel_values_videos", "<|VIDEO_PLACEHOLDER|>", 8),
    "molmo2": ("pixel_values_videos", "<im_patch>", 16),  # 4x4 patches pooled 3x3 (padded) per frame
}
NUM_FRAMES = 4


def _build(family: str, **kwargs):
    return importlib.import_module(f"tests.support.tiny_families.{family}").build(**kwargs)


def _messages(family: str, system: bool = True) -> list[dict]:
    user = {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": QUESTION}]}
    system = system and family != "molmo2"
    return ([{"role": "system", "content": [{"type": "text", "text": SYSTEM}]}] if system else []) + [user]


def _frames(n: int = NUM_FRAMES) -> list[np.ndarray]:
    return list(np.random.RandomState(0).randint(0, 255, (n, 48, 64, 3), dtype=np.uint8))


def _inputs(processor, texts: list[str]):
    return processor(text=texts, videos=[_frames()] * len(texts), return_tensors="pt", padding=True, do_sample_frames=False)


@pytest.fixture(scope="module", params=sorted(RENDERED))
def tiny(request):
    return request.param, *_build(request.param)


def test_small_and_as_registered(tiny):
    family, model, processor = tiny
    assert type(model).__name__ == MODEL_CLASS[family] and not model.training
    if family in FAMILIES:
        assert FAMILIES[family].model_class == MODEL_CLASS[family]
    text = model.config.text_config
    assert (text.hidden_size, text.num_hidden_layers) == (16, 2)
    assert model.config.vision_config.hidden_size == 32
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    assert processor.tokenizer.padding_side == "right"
    assert text.vocab_size + getattr(text, "additional_vocab_size", 0) >= len(processor.tokenizer)
    assert text.pad_token_id == processor.tokenizer.pad_token_id


def test_chat_template_layout(tiny):
    family, _, processor = tiny
    rendered = processor.apply_chat_template(_messages(family), add_generation_prompt=True, tokenize=False)
    assert rendered == RENDERED[family]
    if family == "molmo2":  # as the hub template: user/assistant turns only
        with pytest.raises(Exception, match="alternate"):
            processor.apply_chat_template([{"role": "system", "content": SYSTEM}, *_messages(family)], tokenize=False)
    else:
        no_system = processor.apply_chat_template(_messages(family, system=False), add_generation_prompt=True, tokenize=False)
        user_turn = RENDERED[family][RENDERED[family].index(USER_MARKER[family]) :]
        assert SYSTEM not in no_system and no_system.endswith(user_turn)


def test_processor_forward_generate(tiny):
    family, model, processor = tiny
    texts = [RENDERED[family], RENDERED[family].replace(QUESTION, QUESTION + " Answer with a letter.")]
    inputs = _inputs(processor, texts)
    pixel_key, visual_token, per_video = VISUAL[family]
    assert pixel_key in inputs
    visual_id = processor.tokenizer.convert_tokens_to_ids(visual_token)
    assert (inputs["input_ids"] == visual_id).sum(dim=1).tolist() == [per_video] * 2
    assert inputs["attention_mask"].sum(dim=1).tolist()[0] < inputs["input_ids"].shape[1]  # padded
    with torch.no_grad():
        logits = model(**inputs).logits
        out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
    assert out.shape == (2, inputs["input_ids"].shape[1] + 3)


def test_save_load_round_trip_and_seed(tiny, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    family, model, _ = tiny
    fresh, processor = _build(family)  # saved before any call: a call leaves padding state in tokenizer.json
    same = model.state_dict()
    assert all(torch.equal(v, same[k]) for k, v in fresh.state_dict().items())
    other = _build(family, seed=1)[0].state_dict()
    assert any(not torch.equal(v, other[k]) for k, v in same.items() if v.is_floating_point())

    fresh.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded_processor = AutoProcessor.from_pretrained(tmp_path)
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert type(loaded_processor) is type(processor) and type(loaded) is type(fresh)
    assert loaded_processor.tokenizer.padding_side == "right"
    assert loaded_processor.apply_chat_template(_messages(family), add_generation_prompt=True, tokenize=False) == RENDERED[family]
    inputs, again = _inputs(processor, [RENDERED[family]]), _inputs(loaded_processor, [RENDERED[family]])
    assert torch.equal(inputs["input_ids"], again["input_ids"])
    with torch.no_grad():
        assert torch.allclose(fresh(**inputs).logits, loaded(**again).logits, atol=1e-5)
