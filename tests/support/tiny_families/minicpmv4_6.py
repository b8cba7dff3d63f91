"""Tiny MiniCPM-V 4.6 (``MiniCPMV4_6ForConditionalGeneration``), built offline.

Real: the model class (a SigLIP-style NaViT vision tower with a window-attention merger inserted after
layer ``insert_layer_id``, then the 2x2 ``merger`` MLP into the text width, and a Qwen3.5 text model:
hybrid linear-attention / full-attention layers, as in ``openbmb/MiniCPM-V-4.6``, built on
Qwen3.5-0.8B); ``MiniCPMV4_6Processor`` with ``MiniCPMV4_6ImageProcessor`` and
``MiniCPMV4_6VideoProcessor``; Qwen3.5's special tokens plus MiniCPM's ``<image>``/``</image>``,
``<slice>``/``</slice>`` and ``<image_id>``/``</image_id>`` (named on the tokenizer, which the processor
reads); the ChatML layout of Qwen3.5's non-thinking template (``trl``'s ``qwen3_5_nothink.jinja``; the
generation prompt ``<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n`` unless ``enable_thinking``), where
the video content item writes the bare ``<|video_pad|>`` placeholder (the processor wraps every frame
in ``<image>...</image>`` itself; the hub's own ``chat_template.jinja`` could not be read offline).

Tiny: byte-level tokenizer, 16-wide 2-layer text model (one linear-attention layer, one full),
32-wide 2-block vision tower (merger inserted after block 0), frames resized to 112x112
(``scale_resolution=112``: 8x8 patches -> window merger 4x4 -> merger 2x2 = 4 tokens per frame; the
hub resizes to about 448 px, 64 tokens per frame, plus slices for large frames).

What differs about the family:
- frames are images in the text: the one ``<|video_pad|>`` becomes
  ``<image_id>0</image_id>`` then ``<image><|video_pad|>*k</image>`` per frame (``use_image_id``);
- all frames of all videos of a batch are packed into ONE NaViT row: ``pixel_values_videos`` is
  ``(1, 3, 14, total_patches)`` with ``target_sizes_videos`` (one ``(h, w)`` per frame) whatever the batch;
- the text model's linear-attention layers keep recurrent state: the cache cannot be cropped (copied per
  query by ``hf:``) and PanoDPO's shared prefix falls back to the plain path, as for Qwen3.5;
- no ``mm_token_type_ids`` and 1-D positions (no M-RoPE over the frames).
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen2_5_vl import QWEN_SPECIAL_TOKENS, trl_chat_template
from tests.support.tiny_families.qwen3_5 import hybrid_layer_types, qwen3_5_text_config

#: MiniCPM-V's own markers (``tokenizer.image_start_token`` ... in the hub tokenizer).
MINICPM_TOKENS = {
    "image_start_token": "<image>",
    "image_end_token": "</image>",
    "slice_start_token": "<slice>",
    "slice_end_token": "</slice>",
    "image_id_start_token": "<image_id>",
    "image_id_end_token": "</image_id>",
}


def minicpm_chat_template() -> str:
    """Qwen3.5's non-thinking template with bare ``<|image_pad|>``/``<|video_pad|>`` placeholders."""
    template = trl_chat_template("qwen3_5_nothink")
    for kind in ("image", "video"):
        template = template.replace(f"<|vision_start|><|{kind}_pad|><|vision_end|>", f"<|{kind}_pad|>")
    return template


def minicpm_tokenizer(template: str):
    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(
        QWEN_SPECIAL_TOKENS + list(MINICPM_TOKENS.values()),
        eos="<|im_end|>",
        pad="<|endoftext|>",
        chat_template=template,
        image_token="<|image_pad|>",
        video_token="<|video_pad|>",
        **MINICPM_TOKENS,
    )
    tokenizer.add_tokens(["<think>", "</think>"], special_tokens=False)  # added, not special, as in Qwen3.5
    return tokenizer


def minicpm_text_config(tokenizer, hidden_size: int, num_layers: int) -> dict:
    """A tiny Qwen3.5 text config (linear-attention layers first, the last layer full attention), dense."""
    return qwen3_5_text_config(tokenizer, hidden_size, num_layers, hybrid_layer_types(num_layers),
                               model_type="qwen3_5_text", intermediate_size=2 * hidden_size)


def minicpm_config(tokenizer, hidden_size: int, num_layers: int, frame_size: int, patch: int) -> dict[str, Any]:
    """The config entries the MiniCPM-V 4.6 / 4.7 / OCR tiny models share: the dense Qwen3.5 text model, a
    2-layer SigLIP-style tower twice the text width, the merger after its first layer, the placeholders' ids."""
    vision_width = 2 * hidden_size
    return {
        "text_config": minicpm_text_config(tokenizer, hidden_size, num_layers),
        "vision_config": {
            "hidden_size": vision_width,
            "intermediate_size": 2 * vision_width,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": frame_size,
            "patch_size": patch,
        },
        "insert_layer_id": 0,
        "image_token_id": tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tokenizer.convert_tokens_to_ids("<|video_pad|>"),
    }


def minicpm_processors(frame_size: int, patch: int = 14, family: str = "MiniCPMV4_6") -> dict[str, Any]:
    """The image and video processors of ``family`` (a class-name prefix), resizing to about ``frame_size``."""
    import transformers

    image_class, video_class = (getattr(transformers, f"{family}{kind}Processor") for kind in ("Image", "Video"))
    return {
        "image_processor": image_class(scale_resolution=frame_size, patch_size=patch, max_slice_nums=1),
        "video_processor": video_class(scale_resolution=frame_size, patch_size=patch, max_slice_nums=1, do_sample_frames=False),
    }


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 112) -> tuple[Any, Any]:
    """A random MiniCPM-V 4.6 and its processor (CPU, eval mode).

    >>> model, processor = build()
    >>> type(model).__name__, type(processor).__name__, processor.video_token
    ('MiniCPMV4_6ForConditionalGeneration', 'MiniCPMV4_6Processor', '<|video_pad|>')
    """
    import torch
    from transformers import MiniCPMV4_6Config, MiniCPMV4_6ForConditionalGeneration, MiniCPMV4_6Processor

    template = minicpm_chat_template()
    tokenizer = minicpm_tokenizer(template)
    patch = 14
    config = MiniCPMV4_6Config(**minicpm_config(tokenizer, hidden_size, num_layers, frame_size, patch), image_size=frame_size,
                               tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = MiniCPMV4_6ForConditionalGeneration(config).eval()
    processor = MiniCPMV4_6Processor(tokenizer=tokenizer, chat_template=template, **minicpm_processors(frame_size, patch))
    return model, processor
