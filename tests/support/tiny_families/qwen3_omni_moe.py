"""Tiny Qwen3-Omni-MoE thinker (``Qwen3OmniMoeThinkerForConditionalGeneration``), built offline.

Qwen3-Omni (``Qwen/Qwen3-Omni-30B-A3B-Instruct``, config ``model_type`` ``qwen3_omni_moe``) is, as
Qwen2.5-Omni, a *thinker* that reads text, images, audio and video and writes text, plus a *talker*
and a code-to-wave model that speak. ``AutoModelForImageTextToText`` maps only the thinker's own type
(``qwen3_omni_moe_thinker``) to this class, so ``hf:`` loads an omni checkpoint's thinker alone (its
``thinker.*`` weights), and this module builds the thinker.

Real: the thinker class (an MoE text model: fused expert weights, top-k routing, 4 experts and top-2
here, 128 and top-8 in the checkpoint; interleaved M-RoPE with time-aligned temporal positions,
``position_id_per_seconds`` x seconds per temporal patch), the Qwen3-VL-style vision tower (16-px patches,
learned interpolated position embeddings, a DeepStack merger feeding the text model, the ``merger``
projector), the audio tower (3 strided convolutions, transformer layers, ``proj1``/``proj2`` into the
text width), ``Qwen3OmniMoeProcessor`` with ``Qwen2VLImageProcessor``, ``Qwen2VLVideoProcessor`` (what
``AutoVideoProcessor`` maps ``qwen3_omni_moe`` to) and a ``WhisperFeatureExtractor``; Qwen's special tokens
with the audio ones (``<|audio_start|>``/``<|audio_pad|>``/``<|audio_end|>``); a chat template laid out
as the Instruct checkpoint's (the Qwen3-VL template with the audio placeholder: no default system
prompt, ``<|vision_start|><|video_pad|><|vision_end|>`` where the video item is, ``<|im_start|>assistant\\n``).
Tiny: byte-level tokenizer, 16-wide 2-layer text model, 32-wide 2-block ViT, a 1-layer 24-wide audio
tower on 16 mel bins; frames sized by the processor's own defaults (see below), as on the hub.

What differs about the family:
- the thinker, not the whole model: the talker and code2wav are never built or loaded;
- the audio tower stays out of the way: no audio is given (``load_audio_from_video`` off), its tower
  never runs and PanoDPO freezes it whole (``proj2`` is the audio path's projection, not the video's);
- time-aligned positions without timestamps in the text: ``video_second_per_grid`` (from the processor's
  ``fps``, 1 when not given) spaces the video's temporal positions (13 per second in the checkpoint's
  processor, ``position_id_per_seconds``);
- the processor pads on the left by default and resizes frames to 128-768 x 32 x 32 pixels (its own
  ``videos_kwargs``, over the video processor's size), as on the hub.
"""

from __future__ import annotations

from typing import Any

QWEN3_OMNI_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|audio_start|>",
    "<|audio_end|>",
    "<|audio_pad|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def chat_template() -> str:
    """The Qwen3-VL hub template (``trl``'s ``qwen3_vl.jinja``) with the audio item Qwen3-Omni's adds."""
    from tests.support.tiny_families.qwen2_5_vl import trl_chat_template

    template = trl_chat_template("qwen3_vl")
    video = "{%- elif content.type == 'video' or 'video' in content %}"
    audio = ("{%- elif content.type == 'audio' or 'audio' in content or 'audio_url' in content %}\n"
             "                    <|audio_start|><|audio_pad|><|audio_end|>\n                ")
    assert video in template
    return template.replace(video, audio + video)


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 64) -> tuple[Any, Any]:
    """A random Qwen3-Omni-MoE thinker (4 experts) and its processor.

    >>> model, processor = build()
    >>> type(processor).__name__, model.config.model_type, model.config.text_config.num_experts
    ('Qwen3OmniMoeProcessor', 'qwen3_omni_moe_thinker', 4)
    """
    import torch
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
        Qwen3OmniMoeProcessor,
        Qwen3OmniMoeThinkerConfig,
        Qwen3OmniMoeThinkerForConditionalGeneration,
        WhisperFeatureExtractor,
    )

    from tests.support.tiny_families._common import pixel_budget, qwen_vit
    from tests.support.tiny_families._tokenizers import byte_level_tokenizer
    from tests.support.tiny_families.qwen2_5_omni import omni_audio_config
    from tests.support.tiny_families.qwen3_vl import interleaved_mrope_section

    template = chat_template()
    tokenizer = byte_level_tokenizer(
        QWEN3_OMNI_SPECIAL_TOKENS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=template,
        image_token="<|image_pad|>", video_token="<|video_pad|>", audio_token="<|audio_pad|>",
        vision_bos_token="<|vision_start|>", vision_eos_token="<|vision_end|>",
        audio_bos_token="<|audio_start|>", audio_eos_token="<|audio_end|>",
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN3_OMNI_SPECIAL_TOKENS}
    heads = 2
    head_dim = hidden_size // heads
    patch = 16
    grid = max(frame_size // patch, 4)
    mel_bins = 16
    config = Qwen3OmniMoeThinkerConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": heads,
            "num_key_value_heads": heads,
            "head_dim": head_dim,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": interleaved_mrope_section(head_dim),
                                "interleaved": True, "mrope_interleaved": True},
            "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": hidden_size, "decoder_sparse_step": 1,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config=qwen_vit(hidden_size, patch, num_position_embeddings=grid * grid, deepstack_visual_indexes=[0]),
        audio_config=omni_audio_config(mel_bins, hidden_size, n_window_infer=32, conv_chunksize=16, downsample_hidden_size=8),
        audio_token_id=ids["<|audio_pad|>"],
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        audio_start_token_id=ids["<|audio_start|>"],
        audio_end_token_id=ids["<|audio_end|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        user_token_id=tokenizer("user", add_special_tokens=False)["input_ids"][0],
        position_id_per_seconds=13,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Qwen3OmniMoeThinkerForConditionalGeneration(config).eval()
    # (the video processor's size is what it saves; the Omni processor's videos_kwargs override it at call time)
    size = pixel_budget(frame_size)
    processor = Qwen3OmniMoeProcessor(
        image_processor=Qwen2VLImageProcessor(size=size, patch_size=patch),
        video_processor=Qwen2VLVideoProcessor(size=size, patch_size=patch, do_sample_frames=False, cap_pixels_per_frame=False),
        feature_extractor=WhisperFeatureExtractor(feature_size=mel_bins),
        tokenizer=tokenizer,
        chat_template=template,
    )
    return model, processor
