"""Tiny LLaVA-NeXT-Video (CLIP vision tower, Llama-2 text model, Vicuna chat layout).

What is real: ``LlavaNextVideoForConditionalGeneration`` from a ``LlavaNextVideoConfig`` (CLIP
vision tower, 2-layer MLP projector, 2x2 average pooling of each frame's patch grid, ``default``
feature selection that drops CLS, ``vision_feature_layer=-2``); ``LlavaNextVideoProcessor`` from
``LlavaNextImageProcessor`` and ``LlavaNextVideoVideoProcessor`` (shortest-edge resize then
center crop, CLIP mean/std); a Llama-2-like SentencePiece tokenizer (Metaspace ``▁``, byte
fallback, ``<s>`` prepended by the post-processor, ``<unk>`` as pad) with ``<video>`` and
``<image>`` added after the base vocabulary, as in ``llava-hf/LLaVA-NeXT-Video-7B-hf``
(``<video>`` 32000, ``<image>`` 32001 there); the hub's Vicuna chat layout::

    {system} USER: <video>\\n{text} ASSISTANT:

What differs: widths (text 16, vision 32 instead of 4096 / 1024), depth, vocabulary (~420 pieces
instead of 32000), frames cropped to ``frame_size`` (56 px: a 4x4 patch grid pooled to 4 tokens
per frame; the hub crops to 336 px, 144 tokens per frame).

Frames: ``processor(text=..., videos=[frames], do_sample_frames=False)`` as for Qwen2-VL; each
``<video>`` expands to ``num_frames * (frame_size // 14) ** 2 // 4`` video tokens. The processor
returns ``pixel_values_videos`` of shape ``(batch, frames, 3, frame_size, frame_size)``.
The tokenizer gives a leading ``▁`` token to text tokenized on its own but none to the same text
after ``<video>`` inside the prompt (see :func:`._tokenizers.sentencepiece_like_tokenizer`).
"""

from __future__ import annotations

from typing import Any

# llava-hf/LLaVA-NeXT-Video-7B-hf's chat_template (Vicuna layout): images, then videos, then the
# text of each turn followed by a space; the system text carries no role marker.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\n' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random LLaVA-NeXT-Video and its processor (CPU, eval mode).

    >>> model, processor = build()
    >>> type(model).__name__, type(processor).__name__, processor.video_token
    ('LlavaNextVideoForConditionalGeneration', 'LlavaNextVideoProcessor', '<video>')
    """
    import torch
    from transformers import (
        LlavaNextImageProcessor,
        LlavaNextVideoConfig,
        LlavaNextVideoForConditionalGeneration,
        LlavaNextVideoProcessor,
        LlavaNextVideoVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import sentencepiece_like_tokenizer

    tokenizer = sentencepiece_like_tokenizer(["<video>", "<image>"], chat_template=CHAT_TEMPLATE)
    pinpoints = [[frame_size, 2 * frame_size], [2 * frame_size, frame_size], [2 * frame_size, 2 * frame_size]]
    vision_width = 2 * hidden_size
    config = LlavaNextVideoConfig(
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": vision_width,
            "intermediate_size": 2 * vision_width,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": frame_size,
            "patch_size": 14,
            "projection_dim": vision_width,
        },
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        image_grid_pinpoints=pinpoints,
        image_seq_length=(frame_size // 14) ** 2,
        video_seq_length=(frame_size // 14) ** 2 // 4,
    )
    torch.manual_seed(seed)
    model = LlavaNextVideoForConditionalGeneration(config).eval()
    size, crop = {"shortest_edge": frame_size}, {"height": frame_size, "width": frame_size}
    processor = LlavaNextVideoProcessor(
        video_processor=LlavaNextVideoVideoProcessor(size=size, crop_size=crop),
        image_processor=LlavaNextImageProcessor(size=size, crop_size=crop, image_grid_pinpoints=pinpoints),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    return model, processor
