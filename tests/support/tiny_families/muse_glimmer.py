"""Tiny Muse Glimmer (``MuseGlimmerForConditionalGeneration``), built offline.

Real: the model class and its config layout, as ``meta-models/Muse-Glimmer-30B``: a ViT of 14-px
patches over pairs of frames (``patch_temporal=2``) with an interpolated learned position table,
2D rotary, windowed blocks (``window_attention``) and a full-attention last block, a 2x2 pixel
shuffle after the tower; the projector outside the tower (``vision_adapter`` fc1/fc2 MLP, then
``vision_projection``, then a weight-less RMS norm); a text model built with ``AutoModel``: normed
token embeddings, sliding-window layers and NoPE full-attention layers (every 4th counted back from
the last; ``layer_rope_theta`` 0), scaleless QK-norm with ``qk_scale_factor``, a sigmoid output gate
(``self_attn.gate_proj``), centred RMS norms before and after each sub-layer, logits pre-scaled by
``output_multiplier`` then tanh soft-capped; 1D positions (no M-RoPE, no ``mm_token_type_ids``);
``MuseGlimmerProcessor`` with ``MuseGlimmerImageProcessor`` and ``MuseGlimmerVideoProcessor``;
Muse's Llama-4-like special tokens (``<|begin_of_text|>``, ``<|start|>``, ``<|message|>``,
``<|eot|>``, ``<|eom|>``, ``<|patch|>``, ``<|video|>``, ``<|vid_start|>``, ``<|vid_frame_separator|>``,
``<|vid_end|>``) and the hub chat template itself (the ``trl`` wheel's ``muse_glimmer.jinja``, as
shipped by ``meta-models/Muse-Glimmer-30B``)::

    <|begin_of_text|><|start|>system<|message|>{system}\\n\\nReasoning strength: high.\\n\\n# Valid recipients: "self", "user".<|eot|><|start|>user<|message|><|video|>{text}<|eot|><|start|>assistant

Tiny: byte-level tokenizer; 16-wide text model of 2 layers (layer 0 sliding with an 8-token window,
which the video prefix overflows, as with real frame counts; layer 1 full attention, NoPE), 32-wide
2-block ViT (block 0 windowed over a 4x4-patch window, block 1 full), at most 4 visual tokens per
pair of frames (``max_video_frame_tokens=4``: frames resized to 56x56).

What differs about the family:
- ``<|vid_start|>`` + per pair of frames ``Time: t.ts`` + ``<|video|>`` * n, joined by
  ``<|vid_frame_separator|>``, then ``<|vid_end|>`` (bare frames have no fps: the processor warns
  and assumes 24 fps);
- a default system prompt (with ``Knowledge cutoff`` and, through ``strftime_now``, today's date)
  unless one is given, and ``Reasoning strength: high.`` added to any system prompt;
- the generation prompt ends at ``<|start|>assistant``: the model itself writes the channel
  (`` to=self<|message|>`` to reason, `` to=user<|message|>`` to answer), so a letter scored right
  after the generation prompt competes with the channel header;
- sliding-window layers overflowed by the video prefix: the prefix cache is copied per query.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen2_5_vl import trl_chat_template

MUSE_SPECIAL_TOKENS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|finetune_right_pad|>",
    "<|start|>",
    "<|message|>",
    "<|eot|>",
    "<|eom|>",
    "<|patch|>",
    "<|image_start|>",
    "<|image_end|>",
    "<|video|>",
    "<|vid_start|>",
    "<|vid_end|>",
    "<|vid_frame_separator|>",
]


def muse_tokenizer(extra_tokens: list[str] | None = None, template: str | None = None):
    """A byte-level tokenizer with Muse's special tokens and the hub chat template."""
    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    return byte_level_tokenizer(MUSE_SPECIAL_TOKENS + list(extra_tokens or []), eos="<|eot|>", pad="<|finetune_right_pad|>",
                                bos="<|begin_of_text|>", chat_template=template or trl_chat_template("muse_glimmer"))


def muse_configs(tokenizer, hidden_size: int, num_layers: int, sliding_window: int, max_frame_tokens: int) -> tuple[dict, dict, dict]:
    """(text_config, vision_config, top-level kwargs) shared by Muse Glimmer and Muse Spark."""
    tid = tokenizer.convert_tokens_to_ids
    heads = 2
    vision_dim = 2 * hidden_size
    merge = 2
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": heads,
        "num_key_value_heads": 1,
        "head_dim": hidden_size // heads,
        "max_position_embeddings": 4096,
        "sliding_window": sliding_window,
        "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0},
        "bos_token_id": tid("<|begin_of_text|>"),
        "eos_token_id": [tid("<|end_of_text|>"), tid("<|eot|>"), tid("<|eom|>")],
        "pad_token_id": tid("<|finetune_right_pad|>"),
    }
    side = 2 * int(max_frame_tokens**0.5)  # patches per side of a frame (before the 2x2 shuffle)
    vision = {
        "hidden_size": vision_dim,
        "intermediate_size": 2 * vision_dim,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "patch_size": 14,
        "patch_temporal": 2,
        "merge_size": merge,
        "pos_emb_height": side,
        "pos_emb_width": side,
        "max_position_embeddings": side * side,
    }
    top = {
        "image_token_id": tid("<|patch|>"),
        "video_token_id": tid("<|video|>"),
        "out_hidden_size": vision_dim * merge * merge,
        "projector_hidden_size": 24,
    }
    return text, vision, top


def muse_processor(processor_class: Any, tokenizer, max_frame_tokens: int, **extra: Any) -> Any:
    """A Muse processor with Muse Glimmer's image and video processors."""
    from transformers import MuseGlimmerImageProcessor, MuseGlimmerVideoProcessor

    return processor_class(
        image_processor=MuseGlimmerImageProcessor(max_image_tokens=max_frame_tokens),
        video_processor=MuseGlimmerVideoProcessor(max_video_frame_tokens=max_frame_tokens, do_sample_frames=False, return_metadata=True),
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
        **extra,
    )


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, sliding_window: int = 8, max_frame_tokens: int = 4) -> tuple[Any, Any]:
    """A random Muse Glimmer (sliding + NoPE full attention) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layer_types, model.config.text_config.layer_rope_theta
    (['sliding_attention', 'full_attention'], [500000.0, 0])
    """
    import torch
    from transformers import MuseGlimmerConfig, MuseGlimmerForConditionalGeneration, MuseGlimmerProcessor

    tokenizer = muse_tokenizer()
    text, vision, top = muse_configs(tokenizer, hidden_size, num_layers, sliding_window, max_frame_tokens)
    config = MuseGlimmerConfig(text_config=text, vision_config=vision, **top)
    torch.manual_seed(seed)
    model = MuseGlimmerForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = text["eos_token_id"]
    model.generation_config.pad_token_id = text["pad_token_id"]
    return model, muse_processor(MuseGlimmerProcessor, tokenizer, max_frame_tokens)
