"""Smoke tests of every tiny family builder (tests/support/tiny_families/), driven by one table.

For each family: the real model and processor classes at tiny sizes, the chat template's layout (the
video placeholder once, before the question; the system turn; where the generation prompt ends), one
forward and greedy generate through the processor (as ``hf:`` calls it), a padded batch with the
visual token count of each video, a save/load round trip, and seeded weights. What a single family
needs checked beyond that is in tests/support/test_tiny_family_specifics.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from tests.support.families import family_params
from tests.support.tiny_families import FAMILIES, build_tiny
from tests.support.tiny_family_inputs import (
    QUESTION,
    STRING_SYSTEM,
    SYSTEM,
    SYSTEM_AND_VIDEO,
    chat_text,
    processor_inputs,
)
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture


@dataclass(frozen=True)
class Expect:
    """What a family's tiny model and processor must show (defaults: what most families show)."""

    placeholder: str  #: what the chat template writes for the video item
    prompt_end: str  #: the end of the generation prompt (rendered with ``switches``)
    processor: str  #: the processor's class name
    visual: tuple[str, int]  #: the token the processor expands the video into, and how many per video of 4 48x64 frames
    switches: dict = field(default_factory=dict)  #: chat-template variables passed when rendering
    system: bool = True  #: whether the template has a system role
    string_system: bool = True  #: whether it also reads a system turn given as a plain string
    typed_video: bool = True  #: where the processor returns ``mm_token_type_ids``, the visual tokens are typed 2
    pixels: str = "pixel_values_videos"  #: where the frames go
    vision_width: int = 32
    text_layers: int = 2
    batch: bool = True  #: whether its processor takes a batch of prompts with videos
    sliding_overflow: bool = False  #: the video prefix is longer than 4 sliding windows, as with real frame counts
    answered_end: str | None = None  #: how a conversation ending with the answer "A" ends
    rendered: str | None = None  #: the whole prompt of :data:`SYSTEM_AND_VIDEO`, as the hub checkpoint's
    user_marker: str | None = None  #: where the user turn starts in ``rendered``


QWEN_VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"
CHATML = "<|im_start|>assistant\n"
THINK, NOTHINK = CHATML + "<think>\n", CHATML + "<think>\n\n</think>\n\n"
GLM_VIDEO, GLM_PROMPT = "<|begin_of_video|><|video|><|end_of_video|>", "<|assistant|>\n"
LLAMA2 = f"{SYSTEM} USER: <video>\n{QUESTION}\nA. x\nB. y ASSISTANT:"
GLM45 = f"[gMASK]<sop><|system|>\n{SYSTEM}<|user|>\n{GLM_VIDEO}{QUESTION}\nA. x\nB. y<|assistant|>\n"
HY_VIDEO = "<｜hy_place▁holder▁no▁100｜><|video_pad|><｜hy_place▁holder▁no▁101｜>"
HCX_VIDEO = ('<|im_start|>user (mime)\n{"type": "video/mp4", "filename": "", "video_duration": <|video_duration|>}<|im_end|>\n'
             "<|im_start|>user (vector)\n<|vision_start|><|video_pad|><|vision_end|><|im_end|>\n")
MUSE = dict(placeholder="<|start|>user<|message|><|video|>", prompt_end="<|eot|><|start|>assistant", visual=("<|video|>", 4),
            sliding_overflow=True, answered_end="<|start|>assistant to=user<|message|>A<|eot|>")
MINICPM = dict(placeholder="<|video_pad|>", prompt_end=NOTHINK, visual=("<|video_pad|>", 16), switches={"enable_thinking": False})

EXPECT: dict[str, Expect] = {
    "qwen2_vl": Expect(QWEN_VIDEO, CHATML, "Qwen2VLProcessor", ("<|video_pad|>", 8)),
    "qwen2_5_vl": Expect(QWEN_VIDEO, CHATML, "Qwen2_5_VLProcessor", ("<|video_pad|>", 8)),
    "qwen3_vl": Expect(QWEN_VIDEO, CHATML, "Qwen3VLProcessor", ("<|video_pad|>", 8)),
    "qwen3_vl_moe": Expect(QWEN_VIDEO, CHATML, "Qwen3VLProcessor", ("<|video_pad|>", 8)),
    "qwen3_5": Expect(QWEN_VIDEO, THINK, "Qwen3VLProcessor", ("<|video_pad|>", 8)),
    # (its SigLIP tower is as wide as the text model, unlike the checkpoints)
    "llava_onevision": Expect("<video>", CHATML, "LlavaOnevisionProcessor", ("<video>", 17), vision_width=16),
    "llava_next_video": Expect("<video>", " ASSISTANT:", "LlavaNextVideoProcessor", ("<video>", 16), string_system=False,
                               rendered=LLAMA2, user_marker="USER: "),
    "video_llava": Expect("<video>", " ASSISTANT:", "VideoLlavaProcessor", ("<video>", 20), string_system=False,  # 2x2 patches + CLS
                          rendered=LLAMA2, user_marker="USER: "),
    "smolvlm": Expect("<video>", "\nAssistant:", "SmolVLMProcessor", ("<image>", 16), pixels="pixel_values",  # frames as image blocks
                      rendered=f"<|im_start|>System: {SYSTEM}<end_of_utterance>\nUser: <video>{QUESTION}\nA. x\nB. y<end_of_utterance>\nAssistant:",
                      user_marker="User: "),
    "internvl": Expect("<video>", CHATML, "InternVLProcessor", ("<IMG_CONTEXT>", 16), pixels="pixel_values",  # frames as image blocks
                       rendered=f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n<video>\n{QUESTION}\nA. x\nB. y<|im_end|>\n{CHATML}",
                       user_marker="<|im_start|>user"),
    "glm4v": Expect(GLM_VIDEO, GLM_PROMPT, "Glm4vProcessor", ("<|image|>", 8)),  # frames written with the image token
    "video_llama_3": Expect("<|video_pad|>\n", CHATML, "VideoLlama3Processor", ("<|video_pad|>", 16)),
    "gemma4": Expect("<|video|>", "<|turn>model\n", "Gemma4Processor", ("<|video|>", 252), sliding_overflow=True),
    "perception_lm": Expect("<|video|>", "<|start_header_id|>assistant<|end_header_id|>\n\n", "PerceptionLMProcessor", ("<|video|>", 16),
                            string_system=False, user_marker="<|start_header_id|>user",
                            rendered=(f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{SYSTEM}<|eot_id|>"
                                      f"<|start_header_id|>user<|end_header_id|>\n\n<|video|>{QUESTION}\nA. x\nB. y<|eot_id|>"
                                      "<|start_header_id|>assistant<|end_header_id|>\n\n")),
    "glm46v": Expect(GLM_VIDEO, GLM_PROMPT, "Glm46VProcessor", ("<|image|>", 8), rendered=GLM45, user_marker="<|user|>"),
    "molmo2": Expect("<|video|>", CHATML, "Molmo2Processor", ("<im_patch>", 16), system=False, typed_video=False,  # 4x4 patches pooled 3x3
                     rendered=f"<|im_start|>user\n<|video|>{QUESTION}\nA. x\nB. y<|im_end|>\n{CHATML}"),
    "ernie4_5_vl_moe": Expect("<|VIDEO_START|><|VIDEO_PLACEHOLDER|><|VIDEO_END|>", "\nAssistant: <think>\n\n</think>\n\n",
                              "Ernie4_5_VLMoeProcessor", ("<|VIDEO_PLACEHOLDER|>", 8), user_marker="User: ",
                              rendered=(f"<|begin_of_sentence|>{SYSTEM}\nUser: Video 1:<|VIDEO_START|><|VIDEO_PLACEHOLDER|><|VIDEO_END|>"
                                        f"{QUESTION}\nA. x\nB. y\nAssistant: <think>\n\n</think>\n\n")),
    "glm4v_moe": Expect(GLM_VIDEO, GLM_PROMPT, "Glm4vProcessor", ("<|image|>", 8), rendered=GLM45, user_marker="<|user|>"),
    "qwen3_5_moe": Expect(QWEN_VIDEO, THINK, "Qwen3VLProcessor", ("<|video_pad|>", 8)),
    "qwen4_exp": Expect(QWEN_VIDEO, THINK, "Qwen3VLProcessor", ("<|video_pad|>", 8)),
    # the Omni processors size frames by their own videos_kwargs, as on the hub: ~280 tokens
    "qwen2_5_omni": Expect("<|vision_bos|><|VIDEO|><|vision_eos|>", CHATML, "Qwen2_5OmniProcessor", ("<|VIDEO|>", 280)),
    "qwen3_omni_moe": Expect(QWEN_VIDEO, CHATML, "Qwen3OmniMoeProcessor", ("<|video_pad|>", 280)),
    "cosmos3_omni": Expect(QWEN_VIDEO, CHATML, "Qwen3VLProcessor", ("<|video_pad|>", 8)),
    "dots3_note": Expect("<|video_pad|>", "<|response|>", "Dots3NoteProcessor", ("<|video_pad|>", 16)),
    "glm5_next": Expect(GLM_VIDEO, GLM_PROMPT, "Glm5NextProcessor", ("<|image|>", 24)),
    "glmga": Expect(GLM_VIDEO, GLM_PROMPT, "Glm46VProcessor", ("<|image|>", 8)),
    "kimi_k25": Expect("<|kimi_k25_video_placeholder|>", "<|im_assistant|>assistant<|im_middle|><think>", "Kimi_K25Processor",
                       ("<|kimi_k25_video_placeholder|>", 4)),  # 4 frames pooled into one chunk
    "lfm3_vl": Expect("<|video_pad|>", CHATML, "Lfm3VlProcessor", ("<|video_pad|>", 8)),
    "exaone4_5": Expect(QWEN_VIDEO, "[|assistant|]", "Exaone4_5_Processor", ("<|video_pad|>", 8)),
    "gemma4_unified": Expect("<|video|>", "<|turn>model\n", "Gemma4UnifiedProcessor", ("<|video|>", 252), sliding_overflow=True),
    "minimax_m3_vl": Expect("]<]video[>[", "]~b]ai\n", "MiniMaxM3VLProcessor", ("]<]video[>[", 24)),
    "nemotron_h_omni": Expect("<video>", CHATML + "<think></think>", "NemotronH_Omni_Reasoning_V3Processor",
                              ("<image>", 4), switches={"enable_thinking": False}, text_layers=4, batch=False),  # tubelets of 2 frames
    "minicpmv4_6": Expect(processor="MiniCPMV4_6Processor", **MINICPM),
    "minicpmv4_7": Expect(processor="MiniCPMV4_7Processor", **MINICPM),
    "minicpm_ocr": Expect(processor="MiniCPMOcrProcessor", **MINICPM),
    "cosmos3_edge": Expect(QWEN_VIDEO, CHATML, "Cosmos3EdgeProcessor", ("<|video_pad|>", 16), switches={"enable_thinking": False}),
    "hy_v4_vl": Expect(HY_VIDEO, "<｜hy_Assistant｜><think>\n\n</think>\n", "HYV4VLProcessor", ("<|video_pad|>", 12),  # + a newline per row
                       switches={"reasoning_effort": "no_think"}, answered_end="<｜hy_Assistant｜>A<｜hy_place▁holder▁no▁2｜>"),
    "hyperclovax_vision_v2": Expect(HCX_VIDEO, NOTHINK, "HyperCLOVAXVisionV2Processor", ("<|video_pad|>", 8), switches={"thinking": False},
                                    answered_end="<|im_start|>assistant\nA<|im_end|>\n"),
    "cohere_compass": Expect("<|VISION_START|><|VIDEO_PAD|><|VISION_END|>", "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>",
                             "CohereCompassProcessor", ("<|VIDEO_PAD|>", 8), sliding_overflow=True,
                             answered_end="<|CHATBOT_TOKEN|><|START_RESPONSE|>A<|END_RESPONSE|><|END_OF_TURN_TOKEN|>"),
    "muse_glimmer": Expect(processor="MuseGlimmerProcessor", **MUSE),
    "muse_spark": Expect(processor="MuseSparkProcessor", **MUSE),
}


OMNI_THINKERS = ("qwen2_5_omni", "qwen3_omni_moe")


def _messages(family: str, system: bool = True) -> list[dict]:
    return SYSTEM_AND_VIDEO if system and EXPECT[family].system else SYSTEM_AND_VIDEO[1:]


def _text(family: str, processor, messages=None) -> str:
    return chat_text(processor, messages or _messages(family), EXPECT[family].switches)


def _vision_width(config) -> int:
    # timm towers (PerceptionLM) name their width in model_args, Gemma 4 unified (no tower) mm_embed_dim, Qwen2-VL embed_dim
    vision = config.vision_config
    model_args = getattr(vision, "model_args", None) or {}
    return model_args.get("embed_dim") or getattr(vision, "mm_embed_dim", None) or getattr(vision, "embed_dim", None) or vision.hidden_size


def _ids(value) -> set:
    return set(value) if isinstance(value, (list, tuple)) else {value}


def test_every_family_is_in_the_table():
    assert sorted(EXPECT) == sorted(FAMILIES)


@pytest.fixture(scope="module", params=[p for p in family_params() if p.values[0] in EXPECT])
def tiny(request):
    return request.param, *build_tiny(request.param)


def test_real_classes_and_tiny_sizes(tiny):
    family, model, processor = tiny
    expect, tokenizer = EXPECT[family], processor.tokenizer
    assert type(model).__name__ == FAMILIES[family].model_class and type(processor).__name__ == expect.processor
    # each module is named after its config's model_type; an omni family's tiny model is its thinker, which
    # keeps a type of its own (what hf: loads of the checkpoint)
    assert model.config.model_type == (f"{family}_thinker" if family in OMNI_THINKERS else family)
    text = model.config.get_text_config()
    assert (text.hidden_size, text.num_hidden_layers) == (16, expect.text_layers)
    assert _vision_width(model.config) == expect.vision_width  # unlike the text width, as in every real checkpoint
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    assert tokenizer.padding_side == "right" and not model.training
    assert text.vocab_size + getattr(text, "additional_vocab_size", 0) >= len(tokenizer)
    assert text.pad_token_id == tokenizer.pad_token_id
    # the tokenizer's EOS and the text config's end generation
    assert _ids(text.eos_token_id) | {tokenizer.eos_token_id} <= _ids(model.generation_config.eos_token_id)


def test_chat_template_layout(tiny):
    family, _, processor = tiny
    expect = EXPECT[family]
    forms = [SYSTEM_AND_VIDEO] + ([STRING_SYSTEM] if expect.string_system else []) if expect.system else [SYSTEM_AND_VIDEO[1:]]
    for messages in forms:
        text = _text(family, processor, messages)
        assert text.endswith(expect.prompt_end), messages
        assert text.count(expect.placeholder) == 1 and text.index(expect.placeholder) < text.index(QUESTION)
        if expect.system:
            assert text.index(SYSTEM) < text.index(expect.placeholder)
        assert not chat_text(processor, messages, expect.switches, generation_prompt=False).endswith(expect.prompt_end)
    no_system = _text(family, processor, SYSTEM_AND_VIDEO[1:])
    assert SYSTEM not in no_system and no_system.endswith(expect.prompt_end)
    if not expect.system:  # as the hub template: user/assistant turns only
        with pytest.raises(Exception, match="alternate"):
            chat_text(processor, SYSTEM_AND_VIDEO)
    if expect.answered_end is not None:
        answered = chat_text(processor, STRING_SYSTEM + [{"role": "assistant", "content": "A"}], expect.switches, generation_prompt=False)
        assert answered.endswith(expect.answered_end)
    if expect.rendered is not None:  # the whole prompt, as the hub checkpoint's
        assert _text(family, processor) == expect.rendered
        if expect.user_marker is not None:
            assert no_system.endswith(expect.rendered[expect.rendered.index(expect.user_marker):])


def _visual_ids(family, processor, inputs):
    token, per_video = EXPECT[family].visual
    return inputs["input_ids"] == processor.tokenizer.convert_tokens_to_ids(token), per_video


def test_processor_forward_generate(tiny):
    family, model, processor = tiny
    expect = EXPECT[family]
    inputs = processor_inputs(processor, model, [_text(family, processor)])
    visual, per_video = _visual_ids(family, processor, inputs)
    assert visual.sum() == per_video
    if expect.typed_video and "mm_token_type_ids" in inputs:  # M-RoPE tells the video apart by its type
        assert torch.equal(inputs["mm_token_type_ids"] == 2, visual)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] <= inputs["input_ids"].shape[1] + 3
    assert torch.equal(out[:, : inputs["input_ids"].shape[1]], inputs["input_ids"])
    if expect.sliding_overflow:
        assert inputs["input_ids"].shape[1] > 4 * model.config.get_text_config().sliding_window


def test_padded_batch(tiny):
    family, model, processor = tiny
    expect = EXPECT[family]
    if not expect.batch:
        pytest.skip(f"{family}: its processor takes videos with a single prompt only")
    texts = [_text(family, processor), _text(family, processor).replace(QUESTION, "Which order is shown?")]
    inputs = processor_inputs(processor, model, texts)
    assert expect.pixels in inputs and "pixel_values_videos" not in inputs.keys() - {expect.pixels}
    visual, per_video = _visual_ids(family, processor, inputs)
    assert visual.sum(dim=1).tolist() == [per_video] * 2
    assert inputs["attention_mask"].sum(dim=1).tolist()[0] < inputs["input_ids"].shape[1]  # padded
    with torch.no_grad():
        logits = model(**inputs).logits
        out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
    assert out.shape == (2, inputs["input_ids"].shape[1] + 3)
    assert torch.equal(out[:, : inputs["input_ids"].shape[1]], inputs["input_ids"])


def test_save_and_load_round_trip(tiny, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    family = tiny[0]
    model, processor = build_tiny(family)  # saved before any call: a call leaves padding state in tokenizer.json
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded_processor = AutoProcessor.from_pretrained(tmp_path)
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert type(loaded_processor) is type(processor) and type(loaded) is type(model)
    assert type(loaded_processor.video_processor) is type(processor.video_processor)
    assert loaded_processor.tokenizer.padding_side == "right"
    for messages in (_messages(family), SYSTEM_AND_VIDEO[1:]):
        assert _text(family, loaded_processor, messages) == _text(family, processor, messages)
    texts = [_text(family, processor)]
    inputs, again = processor_inputs(processor, model, texts), processor_inputs(loaded_processor, loaded, texts)
    assert torch.equal(inputs["input_ids"], again["input_ids"])
    with torch.no_grad():
        assert torch.allclose(model(**inputs).logits, loaded(**again).logits, atol=1e-5)


def test_same_seed_same_weights(tiny):
    family, model, _ = tiny
    state, again, other = model.state_dict(), build_tiny(family, seed=0)[0].state_dict(), build_tiny(family, seed=1)[0].state_dict()
    assert state.keys() == again.keys() and all(torch.equal(state[k], again[k]) for k in state)
    assert any(not torch.equal(v, other[k]) for k, v in state.items() if v.is_floating_point())

