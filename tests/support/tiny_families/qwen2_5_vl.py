"""Tiny Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``), built offline.

Real: the model class and its config layout (window-attention ViT with a full-attention block,
2x2 patch merger, M-RoPE text model), ``Qwen2_5_VLProcessor`` from ``Qwen2VLImageProcessor`` and
``Qwen2VLVideoProcessor``, Qwen's special tokens (``<|vision_start|><|video_pad|><|vision_end|>``,
``<|im_start|>``/``<|im_end|>``, pad ``<|endoftext|>``) and the hub checkpoint's chat template
(the one the ``trl`` wheel ships: default system prompt, video placeholder where the content item is).
Tiny: byte-level tokenizer, 16-wide text model, 32-wide 2-block ViT (~90k parameters), frames resized
to 56x56 (4 visual tokens per pair of frames: 4 frames -> 8 ``<|video_pad|>``).

What differs about the family:
- frames are a video (``videos=[frames]``), merged 2 at a time (temporal patch 2): an odd frame count
  is padded by repeating the last frame;
- the processor also returns ``second_per_grid_ts`` (from the video metadata's fps; 24 fps assumed for
  bare frames with a warning) and ``mm_token_type_ids``; ``model(**inputs)`` takes both. M-RoPE
  positions are computed from ``video_grid_thw`` and ``second_per_grid_ts`` (``tokens_per_second``);
- plain KV cache (``DynamicCache``): a video prefix can be cached and cropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def trl_chat_template(name: str) -> str:
    """A hub checkpoint's chat template as the ``trl`` wheel stores it (``trl/chat_templates/<name>.jinja``).

    (A local helper: shared by the tiny-family modules that take their template from ``trl``.)
    """
    import importlib.util

    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the tiny models take their chat templates from the trl package: pip install trl")
    return (Path(list(spec.submodule_search_locations)[0]) / "chat_templates" / f"{name}.jinja").read_text(encoding="utf-8")


def mrope_section(head_dim: int) -> list[int]:
    """M-RoPE sections (temporal, height, width) summing to ``head_dim // 2``."""
    quarter = head_dim // 4
    return [quarter, quarter, head_dim // 2 - 2 * quarter]


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random Qwen2.5-VL and its processor (frames resized to ``frame_size`` x ``frame_size``, a multiple of 28).

    >>> model, processor = build()
    >>> type(processor).__name__, model.config.vision_config.hidden_size, model.config.text_config.hidden_size
    ('Qwen2_5_VLProcessor', 32, 16)
    """
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from tests.support.tiny_families._common import QWEN2_5_VIT_WINDOWS, pixel_budget, qwen_vit
    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    template = trl_chat_template("qwen2_5_vl")
    tokenizer = byte_level_tokenizer(QWEN_SPECIAL_TOKENS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=template)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    heads = 2
    config = Qwen2_5_VLConfig(
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
        },
        vision_config=qwen_vit(hidden_size, 14, **QWEN2_5_VIT_WINDOWS, tokens_per_second=2),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    size = pixel_budget(frame_size)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size),
        video_processor=Qwen2VLVideoProcessor(size=size, do_sample_frames=False, cap_pixels_per_frame=False),
        tokenizer=tokenizer,
        chat_template=template,
    )
    return model, processor
