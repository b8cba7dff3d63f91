"""Tiny offline video LMMs: byte tokenizer, builds, forward, generate, save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from temrobbench.tiny_models import (
    QWEN_SPECIAL_TOKENS,
    build_byte_tokenizer,
    build_tiny_qwen2vl,
    save_tiny_qwen2vl,
)
from tests.support.tiny_families.llava_onevision import build_tiny_llava_onevision, save_tiny_llava_onevision

BUILDERS = {"qwen2vl": (build_tiny_qwen2vl, save_tiny_qwen2vl), "llava_onevision": (build_tiny_llava_onevision, save_tiny_llava_onevision)}
MESSAGES = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Which order? Answer with A, B, C or D."}]}]


def _frames(n=8, size=32):
    # Distinct flat colours per frame, as the synthetic videos use.
    return [np.full((size, size, 3), (37 * i) % 256, dtype=np.uint8) for i in range(n)]


def _inputs(processor, frames=None):
    text = processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    return processor(text=[text], videos=[frames or _frames()], do_sample_frames=False, return_tensors="pt")


def test_byte_tokenizer_round_trips_text_and_keeps_special_tokens_whole():
    tok = build_byte_tokenizer()
    assert len(tok) == 256 + len(QWEN_SPECIAL_TOKENS)
    for text in ["héllo wörld", "A. cut -> sand\n", "日本"]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert len(ids) == len(text.encode("utf-8")) and tok.decode(ids) == text
    for token in QWEN_SPECIAL_TOKENS:
        assert tok(token, add_special_tokens=False)["input_ids"] == [tok.convert_tokens_to_ids(token)]
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert "<|video_pad|>" in tok.apply_chat_template(MESSAGES, tokenize=False)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def tiny(request):
    return request.param, *BUILDERS[request.param][0]()


def test_sizes_are_tiny(tiny):
    name, model, _ = tiny
    text = model.config.text_config
    assert (text.hidden_size, text.num_hidden_layers) == (16, 2)
    vision = model.config.vision_config
    assert getattr(vision, "depth", None) == 2 or getattr(vision, "num_hidden_layers", None) == 2
    assert sum(p.numel() for p in model.parameters()) < 200_000


def test_forward_and_generate_with_a_video(tiny):
    name, model, processor = tiny
    inputs = _inputs(processor)
    video_token_id = model.config.video_token_id if name == "qwen2vl" else model.config.video_token_index
    visual = int((inputs["input_ids"] == video_token_id).sum())
    assert 0 < visual <= 256  # a few visual tokens: small frames stay cheap on CPU
    with torch.inference_mode():
        logits = model(**inputs).logits
        output = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
    assert output.shape[1] == inputs["input_ids"].shape[1] + 3


def test_builds_are_deterministic_per_seed(tiny):
    name, model, processor = tiny
    again, _ = BUILDERS[name][0]()
    other, _ = BUILDERS[name][0](seed=1)
    inputs = _inputs(processor)
    with torch.inference_mode():
        a, b, c = (m(**inputs).logits for m in (model, again, other))
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_save_and_load_round_trip(tiny, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    name, model, processor = tiny
    path = BUILDERS[name][1](tmp_path / name)
    loaded = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32).eval()
    loaded_processor = AutoProcessor.from_pretrained(path)
    assert type(loaded) is type(model) and type(loaded_processor) is type(processor)
    inputs, loaded_inputs = _inputs(processor), _inputs(loaded_processor)
    assert torch.equal(inputs["input_ids"], loaded_inputs["input_ids"])
    with torch.inference_mode():
        assert torch.allclose(model(**inputs).logits, loaded(**loaded_inputs).logits, atol=1e-5)
