"""Tiny Qwen3-VL (``Qwen3VLForConditionalGeneration``), built offline.

Real: the model class and its config layout (16-px patch ViT with learned, interpolated position
embeddings and a DeepStack layer feeding the text model, interleaved M-RoPE text model with q/k norm),
``Qwen3VLProcessor`` from ``Qwen2VLImageProcessor`` and ``Qwen3VLVideoProcessor``, Qwen's special
tokens and the hub checkpoint's chat template (the ``trl`` wheel's ``qwen3_vl.jinja``, as shipped by
``Qwen/Qwen3-VL-8B-Instruct``: no default system prompt). Tiny: byte-level tokenizer, 16-wide text
model, 32-wide 2-block ViT, frames resized to 64x64 (4 visual tokens per pair of frames).

What differs about the family:
- timestamps in the prompt: the processor expands the single ``<|video_pad|>`` into one
  ``<t seconds><|vision_start|><|video_pad|>*n<|vision_end|>`` group per temporal patch (2 frames), so
  the prompt text itself depends on the frame count and on the video's fps. Bare frames have no fps:
  the processor warns and assumes 24 fps (pass ``video_metadata=[{"fps": ..., "total_num_frames": N,
  "frames_indices": [...]}]`` for true timestamps);
- the processor returns ``mm_token_type_ids`` (the model's M-RoPE uses it) and no ``second_per_grid_ts``;
- plain KV cache (``DynamicCache``): a video prefix can be cached and cropped.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen2_5_vl import QWEN_SPECIAL_TOKENS, trl_chat_template


def interleaved_mrope_section(head_dim: int) -> list[int]:
    """Interleaved M-RoPE sections (t, h, w), in the proportions of the real 24/20/20 of 64."""
    half = head_dim // 2
    hw = max(1, half * 20 // 64)
    return [half - 2 * hw, hw, hw]


def build_qwen3_vl_family(
    config_class: Any,
    model_class: Any,
    extra_text_config: dict | None = None,
    hidden_size: int = 16,
    num_layers: int = 2,
    seed: int = 0,
    frame_size: int = 64,
) -> tuple[Any, Any]:
    """A random Qwen3-VL (dense or MoE, by ``config_class``/``model_class``) and its processor."""
    import torch

    from tests.support.tiny_families._common import qwen_vit
    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    template = trl_chat_template("qwen3_vl")
    tokenizer = byte_level_tokenizer(QWEN_SPECIAL_TOKENS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=template)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    heads = 2
    head_dim = hidden_size // heads
    patch = 16
    grid = max(frame_size // patch, 4)
    config = config_class(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": heads,
            "num_key_value_heads": heads,
            "head_dim": head_dim,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": interleaved_mrope_section(head_dim), "mrope_interleaved": True},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            **(extra_text_config or {}),
        },
        # block 0's features are added into the text model's first layer (DeepStack)
        vision_config=qwen_vit(hidden_size, patch, num_position_embeddings=grid * grid, deepstack_visual_indexes=[0]),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = model_class(config).eval()
    return model, qwen3_vl_processor(tokenizer, template, frame_size, patch)


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 64) -> tuple[Any, Any]:
    """A random Qwen3-VL and its processor (frames resized to ``frame_size`` x ``frame_size``, a multiple of 32).

    >>> model, processor = build()
    >>> type(processor).__name__, model.config.vision_config.hidden_size, model.config.text_config.hidden_size
    ('Qwen3VLProcessor', 32, 16)
    """
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    return build_qwen3_vl_family(Qwen3VLConfig, Qwen3VLForConditionalGeneration, None, hidden_size, num_layers, seed, frame_size)


def qwen3_vl_processor(tokenizer, template: str, frame_size: int, patch: int, classes: tuple | None = None) -> Any:
    """``Qwen3VLProcessor`` for frames of about ``frame_size`` px (Qwen3-VL, Qwen3-VL-MoE, Qwen3.5), or
    ``classes`` = (processor, image processor, video processor) laid out as Qwen3-VL's (Cohere Compass, LFM3-VL)."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    from tests.support.tiny_families._common import pixel_budget

    processor_class, image_class, video_class = classes or (Qwen3VLProcessor, Qwen2VLImageProcessor, Qwen3VLVideoProcessor)
    return processor_class(
        image_processor=image_class(size=pixel_budget(frame_size), patch_size=patch),
        video_processor=video_class(size=pixel_budget(frame_size, 64), patch_size=patch, do_sample_frames=False, cap_pixels_per_frame=False),
        tokenizer=tokenizer,
        chat_template=template,
    )
