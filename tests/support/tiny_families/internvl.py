"""Tiny InternVL3, HF-native (InternViT vision tower, pixel-shuffle MLP projector, Qwen2 text model).

What is real: ``InternVLForConditionalGeneration`` from an ``InternVLConfig``
(``InternVLVisionConfig`` tower with layer scale and mean pooling, pixel shuffle by
``downsample_ratio`` 0.5, 2-layer MLP projector, a Qwen2 text model); ``InternVLProcessor`` from
``GotOcr2ImageProcessor`` (tiling into ``max_patches`` crops plus a thumbnail) and
``InternVLVideoProcessor``; a byte-level BPE tokenizer (Qwen2's is byte-level) with InternVL3-hf's
special tokens (``<|im_start|>``, ``<|im_end|>`` EOS, ``<|endoftext|>`` pad, ``<img>``,
``</img>``, ``<IMG_CONTEXT>``, ``<video>``, named on the tokenizer as ``start_image_token``,
``end_image_token``, ``context_image_token``, ``video_token``, which the processor reads); the
chat layout of ``OpenGVLab/InternVL3-1B-hf``::

    <|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n<video>\\n{text}<|im_end|>\\n<|im_start|>assistant\\n

What differs: widths (text 16, vision 32 instead of 896 / 1024), depth, vocabulary, frames
resized to ``frame_size`` (56 px: 4x4 patches shuffled into 4 tokens per frame; the hub uses
448 px, 256 tokens per frame).

Frames-as-images: at ``processor(...)`` time the one ``<video>`` placeholder becomes one image
block per frame, joined by newlines::

    Frame1: <img><IMG_CONTEXT>*k</img>\\nFrame2: <img>...</img> ...

so after processing the text holds no ``<video>`` token and the visual tokens are
``<IMG_CONTEXT>`` tokens (``config.image_token_id``; the model has no video token id); the
frames come back flattened into ``pixel_values`` (batch*frames, 3, H, W), not
``pixel_values_videos``. ``processor(text=..., videos=[frames], do_sample_frames=False)`` works as
for Qwen2-VL. ``InternVLProcessor`` pads on the LEFT by default (its ``text_kwargs`` default
``padding_side="left"``) even though the tokenizer's ``padding_side`` is "right" as shipped; and
a processor call leaves that padding enabled in the backend tokenizer, so a processor saved after
a call writes it into ``tokenizer.json`` and reloads with ``padding_side="left"`` (save before use).
"""

from __future__ import annotations

from typing import Any

# OpenGVLab/InternVL3-*-hf's chat template (ChatML; images and videos as placeholders + newline).
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\n' }}{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{'<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>", "<video>")


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random InternVL3 (HF-native) and its processor (CPU, eval mode).

    >>> model, processor = build()
    >>> type(model).__name__, type(processor).__name__, processor.video_token, processor.image_seq_length
    ('InternVLForConditionalGeneration', 'InternVLProcessor', '<video>', 4)
    """
    import torch
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(
        SPECIAL_TOKENS,
        eos="<|im_end|>",
        pad="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        start_image_token="<img>",
        end_image_token="</img>",
        context_image_token="<IMG_CONTEXT>",
        video_token="<video>",
    )
    patch = 14
    image_seq_length = int((frame_size // patch) ** 2 * 0.5**2)
    vision_width = 2 * hidden_size
    config = InternVLConfig(
        vision_config={
            "hidden_size": vision_width,
            "intermediate_size": 2 * vision_width,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": [frame_size, frame_size],
            "patch_size": [patch, patch],
        },
        text_config={
            "model_type": "qwen2",
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 8192,
            "bos_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            "tie_word_embeddings": True,
        },
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=image_seq_length,
        downsample_ratio=0.5,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config).eval()
    size = {"height": frame_size, "width": frame_size}
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(size=size, crop_to_patches=True, min_patches=1, max_patches=4),
        tokenizer=tokenizer,
        video_processor=InternVLVideoProcessor(size=size),
        image_seq_length=image_seq_length,
        chat_template=CHAT_TEMPLATE,
    )
    return model, processor
