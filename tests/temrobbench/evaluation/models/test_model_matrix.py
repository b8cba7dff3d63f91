"""The model-family matrix: the same invariants over a tiny random model of every family.

Each family (tests.support.tiny_families.FAMILIES) must, through the ``hf:`` adapter:
- answer a batch exactly as it answers each query alone (left padding, whatever the tokenizer ships);
- with the shared video prefix, feed exactly the full prompt's token ids and score as a full
  forward does (within 1e-4), in likelihood, choice and generate scoring;
- change its scores when the video changes (the video is really seen).
The PanoDPO side of the matrix (frozen vision tower, trained projector and LoRA) is in
tests/panodpo/test_model_parts.py.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from temrobbench.evaluation.models.hf import HFVideoLM
from temrobbench.evaluation.requests import VideoLMRequest
from tests.support.families import family_params
from tests.support.tiny_families import FAMILIES, build_tiny

from tests.support.torch_threads import one_torch_thread  # noqa: F401
from tests.support.paths import REPO



@pytest.fixture(scope="module", params=family_params())
def tiny(request):
    model, processor = build_tiny(request.param)
    return request.param, model, processor


def frames(seed: int, n: int = 4) -> list[np.ndarray]:
    return list(np.random.RandomState(seed).randint(0, 255, (n, 48, 64, 3), dtype=np.uint8))


PROMPTS = [
    'Which order of the steps does the video show?\nA. cut wood -> sand -> paint\nB. sand -> cut wood -> paint\n'
    "C. paint -> sand -> cut wood\nD. cut wood -> paint -> sand\nAnswer with the option's letter from the given choices directly.",
    'Descriptions of the steps:\n1. add salt\n2. pour water\nWhich statement matches the video?\nA. "add salt" then "pour water"\n'
    'B. "pour water" then "add salt"\nC. "stir" then "add salt"\nD. "pour water" then "stir"\nAnswer with the option\'s letter.',
    "Short question?",
]


def requests_for(video: list[np.ndarray], key: str = "v", n: int = 3) -> list[VideoLMRequest]:
    options = ("cut wood -> sand -> paint", "sand -> cut wood -> paint", "paint -> sand", "cut wood")
    return [
        VideoLMRequest(item_id=f"i{i}", video_id=key, perturbation="intrinsic", category="light", setting="clean", round=0,
                       frames=video, prompt=PROMPTS[i % len(PROMPTS)], options=options, letters=tuple("ABCD"), video_key=key)
        for i in range(n)
    ]


def full_prompt_ids(adapter: HFVideoLM, request: VideoLMRequest) -> list[int]:
    return adapter._encode([adapter.chat_text(request)], request.frames)["input_ids"][0].tolist()


def test_batched_generate_equals_one_by_one(tiny):
    name, model, processor = tiny
    requests = requests_for(frames(0))
    batched = HFVideoLM(model, processor, max_new_tokens=4, reuse_prefix=False)
    answers = batched.generate(requests)
    alone = [batched.generate([r])[0] for r in requests]
    assert answers == alone, name
    reused = HFVideoLM(model, processor, max_new_tokens=4)
    assert reused.generate(requests) == alone, f"{name}: decoding from the shared video prefix differs from model.generate"


def test_prefix_reuse_feeds_the_full_prompt_and_scores_as_a_full_forward(tiny):
    name, model, processor = tiny
    requests = requests_for(frames(1))
    cached, full = HFVideoLM(model, processor), HFVideoLM(model, processor, reuse_prefix=False)
    cached.fed_token_ids = []
    a, b = cached.letter_logprobs(requests), full.letter_logprobs(requests)
    assert cached.forward_calls == 1 + len(requests), f"{name}: the video prefix was not reused"
    assert cached.fed_token_ids == [full_prompt_ids(cached, r) for r in requests]
    for x, y in zip(a, b):
        assert x == pytest.approx(y, abs=1e-4)
    assert np.allclose(cached.option_logprobs(requests), full.option_logprobs(requests), atol=1e-4)


def test_the_video_changes_the_scores(tiny):
    name, model, processor = tiny
    adapter = HFVideoLM(model, processor)
    one = adapter.letter_logprobs(requests_for(frames(2), key="a", n=1))[0]
    other = adapter.letter_logprobs(requests_for(frames(3), key="b", n=1))[0]
    assert max(abs(one[k] - other[k]) for k in one) > 1e-6, f"{name}: scores do not depend on the video"


def test_a_model_without_video_support_fails_at_load_with_one_line():
    from transformers import CLIPImageProcessor, LlavaProcessor

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(["<image>"], eos="<image>", pad="<image>", image_token="<image>")
    image_only = LlavaProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer, patch_size=14)
    model, _ = build_tiny("qwen2_vl")
    with pytest.raises(ValueError, match=r"takes no videos"):
        HFVideoLM(model, image_only, name="hf:llava-image-only")


def test_panodpo_refuses_a_model_whose_vision_tower_cannot_be_found():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from panodpo.model_parts import find_model_parts

    text_only = Qwen2ForCausalLM(Qwen2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, num_key_value_heads=2))
    with pytest.raises(ValueError, match="cannot"):
        find_model_parts(text_only)


def test_the_models_docs_table_lists_every_family():
    from pathlib import Path

    table = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    for key, family in FAMILIES.items():
        assert f"`tiny_families/{key}.py`" in table and family.display_name in table, key
