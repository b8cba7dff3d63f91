"""Tiny Video-LLaVA (CLIP image and video towers, Llama-2 text model, Vicuna chat layout).

What is real: ``VideoLlavaForConditionalGeneration`` from a ``VideoLlavaConfig`` (two separate
CLIP towers, ``video_tower`` and ``image_tower``, each frame encoded on its own with its CLS
token kept, ``vision_feature_layer=-2``, 2-layer MLP projector); ``VideoLlavaProcessor`` from
``VideoLlavaImageProcessor`` and ``VideoLlavaVideoProcessor`` (shortest-edge resize then center
crop, CLIP mean/std); a Llama-2-like SentencePiece tokenizer (Metaspace ``▁``, byte fallback,
``<s>`` prepended, ``<unk>`` as pad) with ``<image>`` and ``<video>`` added after the base
vocabulary, as in ``LanguageBind/Video-LLaVA-7B-hf`` (``<image>`` 32000, ``<video>`` 32001);
the hub checkpoint's prompt layout::

    {system} USER: <video>\\n{text} ASSISTANT:

What differs: widths (text 16, vision 32 instead of 4096 / 1024), depth, vocabulary, frames
cropped to ``frame_size`` (28 px: 2x2 patches + CLS = 5 tokens per frame; the hub uses 224 px,
257 tokens per frame, and was trained on exactly 8 frames, which the HF class does not enforce).

Frames: ``processor(text=..., videos=[frames], do_sample_frames=False)``; each ``<video>``
expands to ``num_frames * ((frame_size // 14) ** 2 + 1)`` video tokens (CLS included), and the
processor returns ``pixel_values_videos`` of shape ``(batch, frames, 3, frame_size, frame_size)``.
The tokenizer gives a leading ``▁`` token to text tokenized on its own but none to the same text
after ``<video>`` inside the prompt (see :func:`._tokenizers.sentencepiece_like_tokenizer`).
"""

from __future__ import annotations

from typing import Any

# The llava-hf Vicuna chat layout with a video block (the model card's "USER: <video>\n... ASSISTANT:").
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{# Render all videos next #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\n' }}{% endfor %}"
    "{# Render all text finally #}{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 28) -> tuple[Any, Any]:
    """A random Video-LLaVA and its processor (CPU, eval mode).

    >>> model, processor = build()
    >>> type(model).__name__, type(processor).__name__, processor.video_token
    ('VideoLlavaForConditionalGeneration', 'VideoLlavaProcessor', '<video>')
    """
    import torch
    from transformers import (
        VideoLlavaConfig,
        VideoLlavaForConditionalGeneration,
        VideoLlavaImageProcessor,
        VideoLlavaProcessor,
        VideoLlavaVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import sentencepiece_like_tokenizer

    tokenizer = sentencepiece_like_tokenizer(["<image>", "<video>"], chat_template=CHAT_TEMPLATE)
    vision_width = 2 * hidden_size
    patches = (frame_size // 14) ** 2
    config = VideoLlavaConfig(
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
        image_seq_length=patches,
        video_seq_length=8 * (patches + 1),
    )
    torch.manual_seed(seed)
    model = VideoLlavaForConditionalGeneration(config).eval()
    size, crop = {"shortest_edge": frame_size}, {"height": frame_size, "width": frame_size}
    processor = VideoLlavaProcessor(
        image_processor=VideoLlavaImageProcessor(size=size, crop_size=crop),
        video_processor=VideoLlavaVideoProcessor(size=size, crop_size=crop),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )
    return model, processor
