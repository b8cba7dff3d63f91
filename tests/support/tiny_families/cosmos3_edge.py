"""Tiny Cosmos3 Edge (``Cosmos3EdgeForConditionalGeneration``), built offline.

Real: the model class (a SigLIP2-style NaViT vision tower with a learned, resized position grid; a
2x2 patch-merger ``projector`` MLP outside the tower; a Llama-style text model with ``relu2`` MLPs and
M-RoPE, as ``nvidia/Cosmos3-Edge``), built on Qwen2-VL's multimodal model (``get_rope_index``,
``rope_deltas``, ``mm_token_type_ids``); ``Cosmos3EdgeProcessor`` with ``Cosmos3EdgeImageProcessor`` and
``Cosmos3EdgeVideoProcessor`` (temporal patch 1: every frame is its own grid); the vision special
tokens the processor reads (``<|vision_start|>``, ``<|video_pad|>``, ``<|vision_end|>``,
``<|image_pad|>``) and ChatML turn markers (``<|im_start|>``, ``<|im_end|>`` EOS). The chat layout is
Qwen3-VL's (``trl``'s ``qwen3_vl.jinja``: the video item writes ``<|vision_start|><|video_pad|><|vision_end|>``,
which the processor docstring names as what the Edge template emits); the hub's own
``chat_template.jinja`` could not be read offline.

Tiny: byte-level tokenizer, 16-wide 2-layer text model, 32-wide 2-block vision tower (a 4x4 position
grid), frames resized to 64x64 (4x4 patches of 16 px merged 2x2: 4 tokens per frame; the hub's
default sizes are far larger).

What differs about the family:
- the one video block becomes one timestamped block per frame:
  ``<t.t seconds><|vision_start|><|video_pad|>*k<|vision_end|>`` (the processor replaces the template's whole
  wrapper; 24 fps assumed for bare frames, with a warning; pass ``video_metadata`` for true times);
- ``get_rope_index`` splits each video's grid into one grid per frame before Qwen2-VL's M-RoPE;
- the projector (``model.projector``) sits outside the vision tower (not Qwen-VL's ``visual.merger``).
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen2_5_vl import QWEN_SPECIAL_TOKENS, trl_chat_template


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 64) -> tuple[Any, Any]:
    """A random Cosmos3 Edge and its processor (CPU, eval mode).

    >>> model, processor = build()
    >>> type(model).__name__, type(processor).__name__, processor.video_token
    ('Cosmos3EdgeForConditionalGeneration', 'Cosmos3EdgeProcessor', '<|video_pad|>')
    """
    import torch
    from transformers import (
        Cosmos3EdgeConfig,
        Cosmos3EdgeForConditionalGeneration,
        Cosmos3EdgeImageProcessor,
        Cosmos3EdgeProcessor,
        Cosmos3EdgeVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    template = trl_chat_template("qwen3_vl")
    tokenizer = byte_level_tokenizer(["<unk>", "<s>", "</s>"] + QWEN_SPECIAL_TOKENS, eos="<|im_end|>", pad="<unk>", bos="<s>",
                                     chat_template=template)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    patch, merge = 16, 2
    vision_width = 2 * hidden_size
    head_dim = hidden_size // 2
    quarter = head_dim // 4
    config = Cosmos3EdgeConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": head_dim,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 100_000_000.0,
                                "mrope_section": [head_dim // 2 - 2 * quarter, quarter, quarter]},
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": vision_width,
            "intermediate_size": 2 * vision_width,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "patch_size": patch,
            "num_patches": (frame_size // patch) ** 2,
            "spatial_merge_size": merge,
        },
        projector_hidden_size=2 * vision_width,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Cosmos3EdgeForConditionalGeneration(config).eval()
    pixels = frame_size * frame_size
    processor = Cosmos3EdgeProcessor(
        image_processor=Cosmos3EdgeImageProcessor(size={"shortest_edge": pixels, "longest_edge": pixels}, patch_size=patch, merge_size=merge),
        # The video's pixel budget counts every frame (smart_resize over t x h x w).
        video_processor=Cosmos3EdgeVideoProcessor(size={"shortest_edge": pixels, "longest_edge": pixels * 64}, patch_size=patch, merge_size=merge, do_sample_frames=False,
                                                  return_metadata=True),  # the processor reads the timing from it
        tokenizer=tokenizer,
        chat_template=template,
    )
    return model, processor
