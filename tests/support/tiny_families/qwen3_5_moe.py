"""Tiny Qwen3.5-MoE (``Qwen3_5MoeForConditionalGeneration``), built offline.

Real: the model class with its hybrid text model, as Qwen3.5 (layer 0 a linear-attention layer: gated
delta net with a causal conv1d and a recurrent state; layer 1 full attention with an output gate and
partial (25%) interleaved M-RoPE; ``Qwen/Qwen3.5-35B-A3B`` has 3 linear : 1 full) and, in every layer,
a sparse MoE block: fused expert weights (``experts.gate_up_proj``/``down_proj``, 3-D parameters), top-k
routing and a sigmoid-gated shared expert (4 experts, top-2 here; 256, top-8 in the checkpoint); the
Qwen3-VL-style vision tower without DeepStack; ``Qwen3VLProcessor`` (``AutoProcessor`` maps
``qwen3_5_moe`` to it) with ``Qwen2VLImageProcessor`` and ``Qwen3VLVideoProcessor``; Qwen's special
tokens and the Qwen3.5 hub chat template (``trl``'s ``qwen3_5_think.jinja``, as the 35B-A3B checkpoint
ships). Tiny: byte-level tokenizer, 16-wide text model, 32-wide 2-block ViT, frames resized to 64x64.

What differs about the family (as Qwen3.5, plus the experts):
- thinking by default (``<|im_start|>assistant\\n<think>\\n``; ``enable_thinking=False`` closes it);
- the cache cannot be cropped (``LinearAttentionLayer`` for the linear-attention layers): a cached video
  prefix is copied per query; PanoDPO's shared prefix falls back to the plain path;
- fused 3-D expert weights get LoRA through PEFT ``target_parameters``; the shared expert's
  ``gate_proj``/``up_proj``/``down_proj`` are plain linear layers.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen2_5_vl import QWEN_SPECIAL_TOKENS, trl_chat_template
from tests.support.tiny_families.qwen3_vl import interleaved_mrope_section, qwen3_vl_processor


def qwen3_5_text_config(tokenizer: Any, hidden_size: int, num_layers: int, layer_types: list[str], **extra: Any) -> dict:
    """The text config of a tiny Qwen3.5-style hybrid model (dense or MoE by ``extra``)."""
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
    """A random Qwen3.5-style VLM of ``model_class`` (Qwen3.5-MoE, Qwen4-Exp) and its ``Qwen3VLProcessor``."""
    import torch

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    chat_template = trl_chat_template(template)
    tokenizer = byte_level_tokenizer(QWEN_SPECIAL_TOKENS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=chat_template)
    tokenizer.add_tokens(["<think>", "</think>"], special_tokens=False)  # added, not special, as in the hub tokenizer
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    vision_dim = 2 * hidden_size
    patch = 16
    grid = max(frame_size // patch, 4)
    config = config_class(
        text_config=qwen3_5_text_config(tokenizer, hidden_size, num_layers, layer_types, **text_extra),
        vision_config={
            "depth": 2,
            "hidden_size": vision_dim,
            "intermediate_size": 2 * vision_dim,
            "num_heads": 2,
            "out_hidden_size": hidden_size,
            "patch_size": patch,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": grid * grid,
        },
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
    """A random Qwen3.5-MoE (one linear-attention and one full-attention layer, 4 experts) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layer_types, model.config.text_config.num_experts, model.config.vision_config.hidden_size
    (['linear_attention', 'full_attention'], 4, 32)
    """
    from transformers import Qwen3_5MoeConfig, Qwen3_5MoeForConditionalGeneration

    layer_types = ["linear_attention" if i % 2 == 0 else "full_attention" for i in range(num_layers)]
    layer_types[-1] = "full_attention"
    moe = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": hidden_size,
           "shared_expert_intermediate_size": hidden_size}
    return build_qwen3_5_family(Qwen3_5MoeConfig, Qwen3_5MoeForConditionalGeneration, moe, layer_types,
                                hidden_size, num_layers, seed, frame_size)
