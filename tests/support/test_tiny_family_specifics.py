"""What single tiny families must show beyond the shared smoke tests (tests/support/test_tiny_families.py).

By what they check: the chat template's own turns and thinking switches, how a processor writes the
video into the prompt, and the model's structure and caches (what the fast paths of ``hf:`` and
PanoDPO see).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from temrobbench.processor_inputs import template_switches, token_type_switches, video_kwargs
from tests.support.families import family_params
from tests.support.tiny_families import FAMILIES, build_tiny
from tests.support.tiny_family_inputs import NUM_FRAMES, QUESTION, STRING_SYSTEM, chat_text, frames, processor_inputs
from tests.support.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture


def _inputs(family: str, texts: int = 1, switches: dict | None = None):
    """``(model, processor, inputs)`` of ``family`` for ``texts`` prompts of :data:`STRING_SYSTEM`."""
    model, processor = build_tiny(family)
    text = chat_text(processor, STRING_SYSTEM, template_switches(processor) if switches is None else switches)
    prompts = [text, text.replace(QUESTION, "Which order is shown?")][:texts]
    return model, processor, processor_inputs(processor, model, prompts)


# --- the chat template's turns and thinking switches ------------------------------------------------


@pytest.mark.parametrize("family", ["llava_next_video", "video_llava"])
def test_sentencepiece_leading_space_after_special_token(family):
    """Llama-2's tokenizer gives text on its own a leading ``▁`` that it lacks after ``<video>`` in the prompt."""
    from tests.support.tiny_families._tokenizers import sentencepiece_like_tokenizer

    rendered = chat_text(build_tiny(family)[1])
    tok = sentencepiece_like_tokenizer(["<video>", "<image>"])
    assert type(tok).__name__ in ("LlamaTokenizer", "LlamaTokenizerFast")
    alone = tok("\nWhich order?", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(alone)[:2] == ["▁", "<0x0A>"]
    prompt = tok(rendered)["input_ids"]
    assert prompt[0] == tok.bos_token_id and tok.convert_ids_to_tokens(prompt).count("<s>") == 1
    after_video = prompt[prompt.index(tok.convert_tokens_to_ids("<video>")) + 1 :]
    assert after_video[: len(alone) - 1] == alone[1:]  # same text, no leading ▁ inside the prompt
    assert tok.convert_ids_to_tokens(after_video)[0] == "<0x0A>"
    assert tok.decode(prompt, skip_special_tokens=True) == rendered.replace("<video>", "")


@pytest.mark.parametrize("family, switches, no_think_end", [
    ("kimi_k25", {"thinking": False}, "<|im_assistant|>assistant<|im_middle|><think></think>"),
    ("hy_v4_vl", {"reasoning_effort": "no_think"}, "<｜hy_Assistant｜><think>\n\n</think>\n"),
    ("hyperclovax_vision_v2", {"thinking": False}, "<|im_start|>assistant\n<think>\n\n</think>\n\n"),
])
def test_thinking_switch_is_passed_by_the_templates_own_name(family, switches, no_think_end):
    _, processor = build_tiny(family)
    assert template_switches(processor) == switches
    assert chat_text(processor, STRING_SYSTEM, switches).endswith(no_think_end)
    thinking = chat_text(processor, STRING_SYSTEM, template_switches(processor, True))
    assert "</think>" not in thinking  # the model thinks on its own


def test_minimax_m3_template_turns():
    _, processor = build_tiny("minimax_m3_vl")
    assert chat_text(processor, STRING_SYSTEM) == (
        "]~!b[]~b]system\nYou are a helpful assistant.[e~[\n]~b]developer\nAnswer with a letter.[e~[\n"
        "]~b]user\n]<]video[>[Which order?\nA. x\nB. y[e~[\n]~b]ai\n")


@pytest.mark.parametrize("family", ["cohere_compass", "muse_glimmer", "muse_spark"])
def test_cohere_and_muse_template_turns(family):
    _, processor = build_tiny(family)
    text, no_system = chat_text(processor, STRING_SYSTEM), chat_text(processor, STRING_SYSTEM[1:])
    if family == "cohere_compass":
        assert text.startswith("<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Answer with a letter.<|END_OF_TURN_TOKEN|>")
    else:  # the hub template: a default system prompt when none is given
        assert no_system.startswith("<|begin_of_text|><|start|>system<|message|>You are a helpful AI assistant.")
        assert "Reasoning strength: high." in text


@pytest.mark.parametrize("family", ["cohere_compass", "muse_glimmer", "muse_spark"])
def test_the_adapter_prompt_ends_where_the_answer_starts(family):
    """Muse's generation prompt stops before the channel: ``hf:`` (and the collator, which renders the
    same prompt: tests/panodpo/test_prompt_parity.py) add the user channel header the template writes
    before every answer, unless thinking; Cohere's generation prompt already ends at the answer."""
    from temrobbench.processor_inputs import chat_prompt
    from temrobbench.prompt import video_chat_messages

    _, processor = build_tiny(family)
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


# --- how the processor writes the video into the prompt ----------------------------------------------


def test_hyperclovax_writes_each_videos_duration_into_the_prompt():
    model, processor = build_tiny("hyperclovax_vision_v2")
    tokenizer = processor.tokenizer
    placeholder = tokenizer.convert_tokens_to_ids("<|video_duration|>")
    texts = [chat_text(processor, STRING_SYSTEM, template_switches(processor))] * 2
    inputs = processor_inputs(processor, model, texts, [frames(4), frames(8, seed=1)])  # bare frames: 24 fps assumed
    assert (inputs["input_ids"] == placeholder).sum() == 0
    decoded = tokenizer.batch_decode(inputs["input_ids"])
    assert '"video_duration": 0.17}' in decoded[0] and '"video_duration": 0.33}' in decoded[1]


def test_hyperclovax_duration_is_the_source_videos_when_frames_carry_their_timing():
    from temrobbench.evaluation.frames import SampledFrames

    model, processor = build_tiny("hyperclovax_vision_v2")
    sampled = SampledFrames(frames(4))  # 4 frames sampled from a 10 s clip at 30 fps
    sampled.video_metadata = {"fps": 30.0, "total_num_frames": 300, "frames_indices": [37, 112, 187, 262]}
    inputs = processor_inputs(processor, model, [chat_text(processor, STRING_SYSTEM, template_switches(processor))], [sampled])
    assert '"video_duration": 10.0}' in processor.tokenizer.decode(inputs["input_ids"][0])


def test_hy_v4_vl_newline_token_per_merged_row():
    _, processor, inputs = _inputs("hy_v4_vl")
    t, h, w = inputs["video_grid_thw"][0].tolist()
    merge = processor.video_processor.merge_size
    assert (inputs["input_ids"] == processor.video_token_id).sum() == t * (h // merge) * (w // merge + 1)


FRAME = {
    "minicpmv4_6": "<image>" + "<|video_pad|>" * 4 + "</image>",
    "minicpmv4_7": "<image>" + "<|video_pad|>" * 4 + "</image>",
    "minicpm_ocr": "<image>" + "<|video_pad|>" * 4 + "</image>",
    "cosmos3_edge": "<|vision_start|>" + "<|video_pad|>" * 4 + "<|vision_end|>",
}


@pytest.mark.parametrize("family", sorted(FRAME))
def test_every_frame_is_its_own_block(family):
    _, processor, inputs = _inputs(family, switches={"enable_thinking": False})
    text = processor.tokenizer.decode(inputs["input_ids"][0])
    assert text.count(FRAME[family]) == NUM_FRAMES, text
    if family == "minicpmv4_6" or family == "minicpm_ocr":  # the video's local id, once, before its frames
        assert text.count("<image_id>0</image_id><image>") == 1
    if family == "minicpmv4_7":
        assert "<image_id>" not in text and (inputs["mm_token_type_ids"] == 2).sum() == 4 * NUM_FRAMES
    if family == "cosmos3_edge":  # one timestamp per frame (24 fps assumed for bare frames)
        assert text.count(" seconds><|vision_start|>") == NUM_FRAMES and "<0.0 seconds>" in text
        assert (inputs["mm_token_type_ids"] == 2).sum() == 4 * NUM_FRAMES


@pytest.mark.parametrize("family", ["minicpmv4_6", "minicpmv4_7", "minicpm_ocr"])
def test_minicpm_packs_every_frame_of_a_batch_in_one_navit_row(family):
    _, _, inputs = _inputs(family, texts=2, switches={"enable_thinking": False})
    assert inputs["pixel_values_videos"].shape[0] == 1 and inputs["target_sizes_videos"].shape[0] == 2 * NUM_FRAMES


def test_cosmos3_edge_asks_its_processor_for_the_token_types_its_model_needs():
    model, processor = build_tiny("cosmos3_edge")
    assert processor.return_mm_token_type_ids is False  # transformers' default for this processor
    assert token_type_switches(processor, model) == {"return_mm_token_type_ids": True}
    text = chat_text(processor, STRING_SYSTEM, {"enable_thinking": False})
    with pytest.raises(ValueError, match="mm_token_type_ids"):  # what a caller that does not ask gets
        model(**processor(text=[text], **video_kwargs([frames()], processor), return_tensors="pt"))
    for family in ("qwen2_vl", "minicpmv4_6"):  # returned by default; a model that takes none
        assert token_type_switches(*reversed(build_tiny(family))) == {}


@pytest.mark.parametrize("family", ["cohere_compass", "muse_glimmer", "muse_spark"])
def test_cohere_and_muse_write_the_video_per_pair_of_frames(family):
    model, processor, inputs = _inputs(family, switches={})
    text = processor.tokenizer.decode(inputs["input_ids"][0].tolist())
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


def test_minimax_m3_frames_of_any_size_are_resized():
    _, processor = build_tiny("minimax_m3_vl")
    text = chat_text(processor, STRING_SYSTEM)
    odd = list(np.random.RandomState(0).randint(0, 255, (4, 50, 70, 3), dtype=np.uint8))  # not a multiple of 16
    assert video_kwargs([odd], processor)["do_resize"] is True
    inputs = processor(text=[text], return_tensors="pt", **video_kwargs([odd], processor))
    assert inputs["video_grid_thw"][0, 1] % 2 == 0 and inputs["video_grid_thw"][0, 2] % 2 == 0


def test_gemma4_unified_concatenates_the_frames_on_one_axis():
    _, _, inputs = _inputs("gemma4_unified", switches={})
    # frames concatenated on one axis, split back by count
    assert inputs["num_frames_per_video"].tolist() == [4] and inputs["pixel_values_videos"].shape[:2] == (4, 70)


def test_nemotron_h_omni_template_and_tubelets():
    _, processor, inputs = _inputs("nemotron_h_omni", switches={"enable_thinking": False})
    assert chat_text(processor, STRING_SYSTEM, {"enable_thinking": False}) == (
        "<|im_start|>system\nAnswer with a letter.<|im_end|>\n<|im_start|>user\n<video>Which order?\nA. x\nB. y"
        "<|im_end|>\n<|im_start|>assistant\n<think></think>")
    assert inputs["pixel_values_videos"].shape[:2] == (1, 2)  # 4 frames: 2 tubelets


# --- the model's structure and caches ---------------------------------------------------------------


@pytest.mark.parametrize("family, layers, shareable", [
    ("glm5_next", ["LinearAttentionLayer", "DynamicIndexedLayer"], False),
    ("lfm3_vl", ["LinearAttentionLayer", "DynamicLayer"], False),
    ("kimi_k25", ["DynamicLayer", "DynamicLayer"], True),
    ("exaone4_5", ["DynamicSlidingWindowLayer", "DynamicLayer"], True),
    ("hy_v4_vl", ["DynamicIndexedLayer", "DynamicIndexedLayer"], None),
    ("minimax_m3_vl", ["MiniMaxM3VLSparseCacheLayer", "DynamicLayer"], None),  # the block-sparse layer keeps the indexer keys too
    ("nemotron_h_omni", ["LinearAttentionLayer", "DummyLayer", "DynamicLayer"], None),  # (its MoE layer has no cache)
])
def test_cache_layers_are_what_the_fast_paths_see(family, layers, shareable):
    """GLM-5-Next's KDA + DSA layers, LFM3-VL's short convolutions, HY-4-VL's DSA-indexed MLA, MiniMax-M3's
    block-sparse layer and Nemotron's Mamba-2 layer: not croppable (``hf:`` copies the prefix cache per
    query) and, where checked, not shareable (PanoDPO's shared prefix goes plain); Kimi-K2.5's MLA and
    EXAONE 4.5's attention layers are plain KV layers."""
    from panodpo.shared_prefix import unsupported_reason

    model, _, inputs = _inputs(family)
    with torch.no_grad():
        cache = model(**inputs, use_cache=True)["cache"]
    names = [type(layer).__name__ for layer in cache.layers]
    assert names[: len(layers)] == layers, family
    if shareable is not None:
        reason = unsupported_reason(model, gradient_checkpointing=False, checkpointing_kwargs=None)
        assert (reason is None) == shareable, (family, reason)
    text_config = model.config.get_text_config()
    if family == "hy_v4_vl":
        assert inputs["input_ids"].shape[1] > text_config.index_topk  # the indexer selects keys
    if family == "minimax_m3_vl":
        assert inputs["input_ids"].shape[1] > (text_config.index_topk_blocks + 1) * text_config.index_block_size  # sparse for real


def test_glmga_is_its_own_model_type_on_glm46v_classes():
    """``glmga`` is a config model type (``GlmgaConfig``), mapped to GLM-4.6V's model classes, with
    its own image and video processors inside GLM-4.6V's processor (transformers has no GLM-GA processor)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    assert type(AutoConfig.for_model("glmga")).__name__ == "GlmgaConfig"
    assert MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES["glmga"] == "Glm46VForConditionalGeneration"
    _, processor = build_tiny("glmga")
    assert (type(processor).__name__, type(processor.video_processor).__name__) == ("Glm46VProcessor", "GlmgaVideoProcessor")


def test_the_router_expert_count_alias_lasts_one_forward():
    """TRL's fused forward reads ``text_config.num_experts``; DeepSeek-style configs name it ``n_routed_experts``."""
    from panodpo.trainer import _expert_count_for_trl

    model, _ = build_tiny("kimi_k25")
    text_config = model.config.get_text_config()
    assert getattr(text_config, "num_experts", None) is None
    with _expert_count_for_trl(model, True):
        assert text_config.num_experts == text_config.n_routed_experts == 4
    assert "num_experts" not in text_config.__dict__ and "num_experts" not in text_config.to_dict()
    with _expert_count_for_trl(model, False):
        assert getattr(text_config, "num_experts", None) is None


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
    inputs = processor_inputs(processor, thinker, [chat_text(processor, STRING_SYSTEM)])
    with torch.no_grad():
        assert torch.allclose(lm.model(**inputs).logits, thinker(**inputs).logits, atol=1e-5)


def test_gemma4_unified_is_encoder_free_and_parts_found():
    from panodpo.model_parts import find_model_parts

    model, _ = build_tiny("gemma4_unified")
    assert not hasattr(model.model, "vision_tower") and not hasattr(model.model, "audio_tower")
    parts = find_model_parts(model)
    assert parts.encoders == ("model.embed_vision",)
    assert parts.projectors == ("model.embed_vision.multimodal_embedder",)
    assert parts.in_encoder("model.embed_vision.pos_embedding") and not parts.in_projector("model.embed_vision.pos_embedding")
    assert not parts.in_encoder("model.embed_audio.embedding_projection.weight")


@pytest.mark.parametrize("family", ["cohere_compass", "muse_glimmer", "muse_spark"])
def test_cohere_and_muse_structure(family):
    model, _ = build_tiny(family)
    text_config = model.config.text_config
    # a sliding layer then a full-attention layer without rotary embeddings (NoPE)
    assert text_config.layer_types == ["sliding_attention", "full_attention"]
    if family == "cohere_compass":
        assert text_config.rope_parameters["full_attention"] is None  # NoPE
        assert text_config.logit_scale is not None
        assert len(model.model.visual.deepstack_merger_list) == 1
    else:
        assert text_config.layer_rope_theta[-1] == 0  # NoPE
        assert hasattr(model.model, "vision_adapter") and hasattr(model.model, "vision_projection")
    if family == "muse_spark":
        assert text_config.mlp_layer_types == ["dense", "sparse"]
        assert model.model.language_model.layers[1].mlp.experts.gate_up_proj.ndim == 3
        assert hasattr(model.model, "audio_tower")


def test_nemotron_h_omni_is_a_mamba_hybrid_around_its_own_causal_lm():
    from transformers import NemotronHForCausalLM

    model, _ = build_tiny("nemotron_h_omni")
    assert type(model).__name__ == FAMILIES["nemotron_h_omni"].model_class
    assert isinstance(model.language_model, NemotronHForCausalLM)
    assert model.config.text_config.layers_block_type == ["linear_attention", "moe", "full_attention", "mlp"]
