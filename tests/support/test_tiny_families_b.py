"""Smoke tests of the tiny LLaVA-NeXT-Video, Video-LLaVA, SmolVLM2, InternVL and PerceptionLM builders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.support.tiny_families import FAMILIES, build_tiny
from tests.support.torch_threads import one_torch_thread  # noqa: F401  (module fixture: one torch thread)

SYSTEM, QUESTION = "Be brief.", "Which order?"

# Rendered [system, user(video, text)] with add_generation_prompt=True, laid out as each hub checkpoint's.
RENDERED = {
    "llava_next_video": "Be brief. USER: <video>\nWhich order? ASSISTANT:",
    "video_llava": "Be brief. USER: <video>\nWhich order? ASSISTANT:",
    "smolvlm": "<|im_start|>System: Be brief.<end_of_utterance>\nUser: <video>Which order?<end_of_utterance>\nAssistant:",
    "internvl": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<video>\nWhich order?<|im_end|>\n<|im_start|>assistant\n",
    "perception_lm": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n<|video|>Which order?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
}
USER_MARKER = {"llava_next_video": "USER: ", "video_llava": "USER: ", "smolvlm": "User: ", "internvl": "<|im_start|>user", "perception_lm": "<|start_header_id|>user"}
# Where the frames go, which token carries them, and how many per frame at the default frame size.
VISUAL = {
    "llava_next_video": ("pixel_values_videos", "<video>", 4),
    "video_llava": ("pixel_values_videos", "<video>", 5),  # 2x2 patches + CLS
    "smolvlm": ("pixel_values", "<image>", 4),  # frames become image blocks in the text
    "internvl": ("pixel_values", "<IMG_CONTEXT>", 4),  # frames become image blocks in the text
    "perception_lm": ("pixel_values_videos", "<|video|>", 4),
}
SENTENCEPIECE = ("llava_next_video", "video_llava")
NUM_FRAMES = 4


def _messages(system: bool = True) -> list[dict]:
    user = {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": QUESTION}]}
    return ([{"role": "system", "content": [{"type": "text", "text": SYSTEM}]}] if system else []) + [user]


def _frames(n: int = NUM_FRAMES) -> list[np.ndarray]:
    return list(np.random.RandomState(0).randint(0, 255, (n, 48, 64, 3), dtype=np.uint8))


def _inputs(processor, texts: list[str]):
    return processor(text=texts, videos=[_frames()] * len(texts), return_tensors="pt", padding=True, do_sample_frames=False)


def _vision_width(config) -> int:
    vision = config.vision_config
    model_args = getattr(vision, "model_args", None) or {}
    return model_args.get("embed_dim") or vision.hidden_size


@pytest.fixture(scope="module", params=sorted(RENDERED))
def tiny(request):
    return request.param, *build_tiny(request.param)


def test_registered_and_small(tiny):
    family, model, processor = tiny
    assert type(model).__name__ == FAMILIES[family].model_class and not model.training
    text = model.config.text_config
    assert (text.hidden_size, text.num_hidden_layers) == (16, 2)
    assert _vision_width(model.config) != text.hidden_size  # as in every real checkpoint
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    assert processor.tokenizer.padding_side == "right"
    assert text.vocab_size >= len(processor.tokenizer)
    assert text.eos_token_id == processor.tokenizer.eos_token_id and text.pad_token_id == processor.tokenizer.pad_token_id


def test_chat_template_layout(tiny):
    family, _, processor = tiny
    rendered = processor.apply_chat_template(_messages(), add_generation_prompt=True, tokenize=False)
    assert rendered == RENDERED[family]
    no_system = processor.apply_chat_template(_messages(system=False), add_generation_prompt=True, tokenize=False)
    user_turn = RENDERED[family][RENDERED[family].index(USER_MARKER[family]) :]
    assert SYSTEM not in no_system and no_system.endswith(user_turn)


def test_processor_forward_generate(tiny):
    family, model, processor = tiny
    texts = [RENDERED[family], RENDERED[family].replace(QUESTION, QUESTION + " Answer with a letter.")]
    inputs = _inputs(processor, texts)
    pixel_key, visual_token, per_frame = VISUAL[family]
    assert pixel_key in inputs and "pixel_values_videos" not in inputs.keys() - {pixel_key}
    visual_id = processor.tokenizer.convert_tokens_to_ids(visual_token)
    assert (inputs["input_ids"] == visual_id).sum(dim=1).tolist() == [NUM_FRAMES * per_frame] * 2
    assert inputs["attention_mask"].sum(dim=1).tolist()[0] < inputs["input_ids"].shape[1]  # padded
    with torch.no_grad():
        logits = model(**inputs).logits
        out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
    assert out.shape == (2, inputs["input_ids"].shape[1] + 3)


def test_save_load_round_trip_and_seed(tiny, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    family, model, _ = tiny
    fresh, processor = build_tiny(family)  # saved before any call: a call leaves padding state in tokenizer.json
    same = model.state_dict()
    assert all(torch.equal(v, same[k]) for k, v in fresh.state_dict().items())
    other = build_tiny(family, seed=1)[0].state_dict()
    assert any(not torch.equal(v, other[k]) for k, v in same.items() if v.is_floating_point())

    fresh.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded_processor = AutoProcessor.from_pretrained(tmp_path)
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert type(loaded_processor) is type(processor) and type(loaded) is type(fresh)
    assert loaded_processor.tokenizer.padding_side == "right"
    assert loaded_processor.apply_chat_template(_messages(), add_generation_prompt=True, tokenize=False) == RENDERED[family]
    inputs, again = _inputs(processor, [RENDERED[family]]), _inputs(loaded_processor, [RENDERED[family]])
    assert torch.equal(inputs["input_ids"], again["input_ids"])
    with torch.no_grad():
        assert torch.allclose(fresh(**inputs).logits, loaded(**again).logits, atol=1e-5)


@pytest.mark.parametrize("family", SENTENCEPIECE)
def test_sentencepiece_leading_space_after_special_token(family):
    """Llama-2's tokenizer gives text on its own a leading ``▁`` that it lacks after ``<video>`` in the prompt."""
    from tests.support.tiny_families._tokenizers import sentencepiece_like_tokenizer

    tok = sentencepiece_like_tokenizer(["<video>", "<image>"])
    assert type(tok).__name__ in ("LlamaTokenizer", "LlamaTokenizerFast")
    alone = tok("\nWhich order?", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(alone)[:2] == ["▁", "<0x0A>"]
    prompt = tok(RENDERED[family])["input_ids"]
    assert prompt[0] == tok.bos_token_id and tok.convert_ids_to_tokens(prompt).count("<s>") == 1
    after_video = prompt[prompt.index(tok.convert_tokens_to_ids("<video>")) + 1 :]
    assert after_video[: len(alone) - 1] == alone[1:]  # same text, no leading ▁ inside the prompt
    assert tok.convert_ids_to_tokens(after_video)[0] == "<0x0A>"
    assert tok.decode(prompt, skip_special_tokens=True) == RENDERED[family].replace("<video>", "")
