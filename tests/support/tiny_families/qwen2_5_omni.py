"""Tiny Qwen2.5-Omni thinker (``Qwen2_5OmniThinkerForConditionalGeneration``), built offline.

Qwen2.5-Omni (``Qwen/Qwen2.5-Omni-7B``, config ``model_type`` ``qwen2_5_omni``) is a *thinker* that reads
text, images, audio and video and writes text, plus a *talker* and a token-to-wave model that speak
the thinker's answer. Only the thinker generates text from video: ``AutoModelForImageTextToText`` maps
the thinker's own type (``qwen2_5_omni_thinker``) to this class, not ``qwen2_5_omni``, so ``hf:`` loads an
omni checkpoint's thinker alone (its weights are the checkpoint's ``thinker.*``; the talker's are not read),
and this module builds the thinker (saved, it loads as ``hf:<folder>`` with its own ``model_type``).

Real: the thinker class (a Qwen2-style text model with TMRoPE, time-aligned M-RoPE: temporal positions
at ``position_id_per_seconds`` x the seconds per temporal patch; the Qwen2.5-VL-style windowed ViT with
its ``merger`` projector; a Whisper-style audio tower with its own projection, ``audio_tower.proj``),
``Qwen2_5OmniProcessor`` with ``Qwen2VLImageProcessor``, ``Qwen2VLVideoProcessor`` and a
``WhisperFeatureExtractor``, the Omni special tokens (``<|vision_bos|>``/``<|vision_eos|>``, ``<|VIDEO|>``,
``<|IMAGE|>``, ``<|AUDIO|>``, ``<|audio_bos|>``/``<|audio_eos|>``) and the hub chat template's layout
(the Qwen2.5-VL template with the Omni placeholders and its default system prompt, "You are Qwen, a
virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving auditory and visual
inputs, as well as generating text and speech."). Tiny: byte-level tokenizer, 16-wide text model,
32-wide 2-block ViT (14-px patches), 1-layer 24-wide audio tower. Frames are sized as on the hub: the
processor's own ``videos_kwargs`` (128-768 x 28 x 28 pixels a frame) override the video processor's
size, so 4 small frames become ~280 visual tokens.

What differs about the family:
- the thinker, not the whole model: the talker and token2wav (speech output) are never built or loaded;
- the audio tower stays out of the way: TemRobBench videos are frames without a sound track, so the
  processor is never given audio (``load_audio_from_video`` stays off), the audio tower never runs and
  PanoDPO freezes it with the vision tower (its ``proj`` is another modality's adapter, not a projector);
- the prompt names no timestamps, but the positions do: ``video_second_per_grid`` (from the processor's
  ``fps``, 2 when not given) spaces the temporal positions of the video tokens;
- the processor pads on the left by default; the tokenizer itself pads right.
"""

from __future__ import annotations

from typing import Any

OMNI_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|AUDIO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
    "<|vision_pad|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
]

DEFAULT_SYSTEM = ("You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
                  "auditory and visual inputs, as well as generating text and speech.")

#: The layout of Qwen/Qwen2.5-Omni-7B's chat template: the default system turn when the conversation has
#: none, one ``<|im_start|>role\n...<|im_end|>\n`` turn per message, media as ``<|vision_bos|><|VIDEO|><|vision_eos|>``
#: (``<|IMAGE|>``, ``<|audio_bos|><|AUDIO|><|audio_eos|>``) where the content item is, ``<|im_start|>assistant\n``.
CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    + DEFAULT_SYSTEM +
    "<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}{% set audio_count.value = audio_count.value + 1 %}"
    "{% if add_audio_id %}Audio {{ audio_count.value }}: {% endif %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def omni_tokenizer(special_tokens=OMNI_SPECIAL_TOKENS, chat_template: str = CHAT_TEMPLATE, **named: str):
    """A byte-level tokenizer with the Omni special tokens, named as the Omni processors read them."""
    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    named = named or {
        "image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "audio_token": "<|AUDIO|>",
        "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
        "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>",
    }
    return byte_level_tokenizer(special_tokens, eos="<|im_end|>", pad="<|endoftext|>", chat_template=chat_template, **named)


def omni_audio_config(mel_bins: int, hidden_size: int, **extra: Any) -> dict[str, Any]:
    """A 1-layer, 24-wide Whisper-style audio tower on ``mel_bins`` mel bins, projecting into ``hidden_size``."""
    return {
        "num_mel_bins": mel_bins,
        "encoder_layers": 1,
        "encoder_attention_heads": 2,
        "encoder_ffn_dim": 48,
        "d_model": 24,
        "output_dim": hidden_size,
        "max_source_positions": 64,
        "n_window": 8,
        **extra,
    }


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random Qwen2.5-Omni thinker and its processor (frames resized to ``frame_size``, a multiple of 28).

    >>> model, processor = build()
    >>> type(processor).__name__, model.config.model_type, model.config.vision_config.hidden_size
    ('Qwen2_5OmniProcessor', 'qwen2_5_omni_thinker', 32)
    """
    import torch
    from transformers import (
        Qwen2_5OmniProcessor,
        Qwen2_5OmniThinkerConfig,
        Qwen2_5OmniThinkerForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
        WhisperFeatureExtractor,
    )

    from tests.support.tiny_families._common import QWEN2_5_VIT_WINDOWS, pixel_budget, qwen_vit
    from tests.support.tiny_families.qwen2_5_vl import mrope_section

    tokenizer = omni_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in OMNI_SPECIAL_TOKENS}
    heads = 2
    mel_bins = 16
    config = Qwen2_5OmniThinkerConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": heads,
            "num_key_value_heads": heads,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope_section(hidden_size // heads)},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": False,
        },
        vision_config=qwen_vit(hidden_size, 14, **QWEN2_5_VIT_WINDOWS),
        audio_config=omni_audio_config(mel_bins, hidden_size),
        audio_token_index=ids["<|AUDIO|>"],
        image_token_index=ids["<|IMAGE|>"],
        video_token_index=ids["<|VIDEO|>"],
        audio_start_token_id=ids["<|audio_bos|>"],
        audio_end_token_id=ids["<|audio_eos|>"],
        vision_start_token_id=ids["<|vision_bos|>"],
        vision_end_token_id=ids["<|vision_eos|>"],
        user_token_id=tokenizer("user", add_special_tokens=False)["input_ids"][0],
        position_id_per_seconds=25,
        seconds_per_chunk=2,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Qwen2_5OmniThinkerForConditionalGeneration(config).eval()
    # (the video processor's size is what it saves; the Omni processor's videos_kwargs override it at call time)
    size = pixel_budget(frame_size)
    processor = Qwen2_5OmniProcessor(
        image_processor=Qwen2VLImageProcessor(size=size),
        video_processor=Qwen2VLVideoProcessor(size=size, do_sample_frames=False, cap_pixels_per_frame=False),
        feature_extractor=WhisperFeatureExtractor(feature_size=mel_bins),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    return model, processor
