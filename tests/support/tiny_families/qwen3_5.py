"""Tiny Qwen3.5 (``Qwen3_5ForConditionalGeneration``), built offline.

Real: the model class with its hybrid text model: layer 0 is a linear-attention layer (gated delta
net: causal conv1d + recurrent state), layer 1 full attention with an output gate and partial
(25%) interleaved M-RoPE, as in ``Qwen/Qwen3.5-9B`` (3 linear : 1 full; here ``num_layers`` alternates
starting with linear, the last layer always full); the Qwen3-VL-style vision tower without DeepStack;
``Qwen3VLProcessor`` (the family has no processor of its own: ``AutoProcessor`` maps ``qwen3_5`` to it)
with ``Qwen2VLImageProcessor`` and ``Qwen3VLVideoProcessor``; Qwen's special tokens; and the hub chat
template of Qwen3.5-4B and larger (``trl``'s ``qwen3_5_think.jinja``). Tiny: byte-level tokenizer,
16-wide text model, 32-wide 2-block ViT, frames resized to 64x64 (4 visual tokens per pair of frames).

What differs about the family:
- thinking by default: the generation prompt is ``<|im_start|>assistant\\n<think>\\n``; pass
  ``enable_thinking=False`` to ``apply_chat_template`` for ``<think>\\n\\n</think>\\n\\n`` (an answer letter
  right after the prompt is only meaningful then). ``<think>``/``</think>`` are added, non-special tokens;
- cache cannot be cropped: the linear-attention layers keep a recurrent + conv state (the model's
  ``DynamicCache`` holds a ``LinearAttentionLayer`` then a ``DynamicLayer``); ``cache.crop(n)`` raises
  "RuntimeError: `crop` was called, but the current layer does not track past states. Call
  `activate_past_recording` before `crop`", so a cached video prefix must be deep-copied per
  continuation (or recording activated first), or recomputed;
- timestamps in the prompt, as Qwen3-VL (``<t seconds>`` per pair of frames; 24 fps assumed for bare
  frames, with a warning; pass ``video_metadata`` for true times); ``mm_token_type_ids`` from the processor.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen2_5_vl import QWEN_SPECIAL_TOKENS, trl_chat_template
from tests.support.tiny_families.qwen3_vl import interleaved_mrope_section, qwen3_vl_processor


def hybrid_layer_types(num_layers: int, attention: str = "full_attention") -> list[str]:
    """Linear-attention layers alternating with ``attention`` layers, linear first, the last layer ``attention``."""
    layer_types = ["linear_attention" if i % 2 == 0 else attention for i in range(num_layers)]
    layer_types[-1] = attention
    return layer_types


def qwen3_5_text_config(tokenizer: Any, hidden_size: int, num_layers: int, layer_types: list[str], **extra: Any) -> dict:
    """The text config of a tiny Qwen3.5-style hybrid model (dense or MoE by ``extra``, which adds or overrides entries)."""
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    head_dim = 2 * hidden_size  # with partial_rotary_factor 0.25: a rotary width of hidden_size // 2
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "num_hidden_layers": num_layers,
        "layer_types": layer_types,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": head_dim,
        "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 8,
        "linear_value_head_dim": 8,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25,
                            "mrope_section": interleaved_mrope_section(head_dim // 4), "mrope_interleaved": True},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        **extra,
    }


def build_qwen3_5_family(config_class: Any, model_class: Any, text_extra: dict, layer_types: list[str], hidden_size: int,
                         num_layers: int, seed: int, frame_size: int, template: str = "qwen3_5_think") -> tuple[Any, Any]:
    """A random Qwen3.5-style VLM of ``model_class`` (Qwen3.5, Qwen3.5-MoE, Qwen4-Exp) and its ``Qwen3VLProcessor``."""
    import torch

    from tests.support.tiny_families._common import qwen_vit
    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    chat_template = trl_chat_template(template)
    tokenizer = byte_level_tokenizer(QWEN_SPECIAL_TOKENS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=chat_template)
    tokenizer.add_tokens(["<think>", "</think>"], special_tokens=False)  # added, not special, as in the hub tokenizer
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    patch = 16
    grid = max(frame_size // patch, 4)
    config = config_class(
        text_config=qwen3_5_text_config(tokenizer, hidden_size, num_layers, layer_types, **text_extra),
        vision_config=qwen_vit(hidden_size, patch, num_position_embeddings=grid * grid),  # no DeepStack
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = model_class(config).eval()
    return model, qwen3_vl_processor(tokenizer, chat_template, frame_size, patch)


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 64) -> tuple[Any, Any]:
    """A random Qwen3.5 (one linear-attention and one full-attention layer by default) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layer_types, model.config.vision_config.hidden_size
    (['linear_attention', 'full_attention'], 32)
    """
    from transformers import Qwen3_5Config, Qwen3_5ForConditionalGeneration

    return build_qwen3_5_family(Qwen3_5Config, Qwen3_5ForConditionalGeneration, {"intermediate_size": 2 * hidden_size},
                                hybrid_layer_types(num_layers), hidden_size, num_layers, seed, frame_size)
