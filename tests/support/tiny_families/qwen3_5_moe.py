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

from tests.support.tiny_families.qwen3_5 import build_qwen3_5_family, hybrid_layer_types


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 64) -> tuple[Any, Any]:
    """A random Qwen3.5-MoE (one linear-attention and one full-attention layer, 4 experts) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layer_types, model.config.text_config.num_experts, model.config.vision_config.hidden_size
    (['linear_attention', 'full_attention'], 4, 32)
    """
    from transformers import Qwen3_5MoeConfig, Qwen3_5MoeForConditionalGeneration

    moe = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": hidden_size,
           "shared_expert_intermediate_size": hidden_size}
    return build_qwen3_5_family(Qwen3_5MoeConfig, Qwen3_5MoeForConditionalGeneration, moe, hybrid_layer_types(num_layers),
                                hidden_size, num_layers, seed, frame_size)
