"""Tiny GLM-5-Next (``Glm5NextForConditionalGeneration``), built offline.

Real: the model class and its config layout, as ``zai-org/GLM-5.3-Flash``: a hybrid text model of
KDA linear-attention layers (Kimi delta attention: short causal conv + recurrent state) and DSA
layers (MLA with a compressed latent KV and a "lightning" indexer that picks the top-k key pools
each query attends to; NoPE, no rotary positions at all), manifold hyper-connections (``hc_mult``
residual streams mixed by Sinkhorn-normalized routing), a sigmoid top-k MoE with a shared expert
after ``first_k`` dense layers; the GLM-4.6V-style ViT (2D axial rotary, 2x2 ``downsample`` conv
and SwiGLU ``merger`` as the projector inside the tower); ``Glm5NextProcessor`` with
``Glm5NextImageProcessor`` and ``Glm5NextVideoProcessor``; GLM-4.5's special tokens (eos
``<|endoftext|>``, with ``<|user|>`` and ``<|observation|>`` also ending generation) and the GLM-V chat
template layout (GLM-4.5V/4.6V's, see :mod:`.glm4v_moe`: the GLM-5.3-Flash template itself is not
available offline; its processor expects the same ``<|begin_of_video|><|video|><|end_of_video|>``)::

    [gMASK]<sop><|system|>\\n{system}<|user|>\\n<|begin_of_video|><|video|><|end_of_video|>{text}<|assistant|>\\n

Tiny: byte-level tokenizer; 16-wide text model of 2 layers: layer 0 KDA (2 heads of 8) with a dense
MLP, layer 1 DSA (2 heads, latent ranks 8, indexer 2 heads of 8, top-128 positions in pools of 4:
the matrix's prompts are longer, so their last queries attend sparsely; with top-16 the random KDA
layer's fast decay and the indexer together left the video no measurable effect on the answer
scores) with 4 routed experts (top-2) + 1 shared;
2 hyper-connection streams (real: 4); 32-wide 2-block ViT, frames resized to 56x56 (4 visual tokens
per pair of frames).

What differs about the family:
- the cache holds a ``LinearAttentionLayer`` (KDA conv + recurrent state) and a
  ``DynamicIndexedLayer`` (latent KV + indexer keys): it cannot be cropped, so ``hf:`` copies the
  video prefix's cache per query, and PanoDPO's shared prefix (a read-only KV branch) falls back to
  the plain path with one logged line;
- as GLM-4.6V the video becomes per-pair-of-frames image blocks told apart by ``mm_token_type_ids``,
  each followed by ``"{t:.1f} seconds"`` (bare frames: 24 fps assumed, with a warning).
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.glm4v import glm_v_media_ids, glm_v_processor, glm_v_tokenizer
from tests.support.tiny_families.glm4v_moe import GLM45_SPECIAL_TOKENS, GLM45V_CHAT_TEMPLATE


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random GLM-5-Next (KDA then DSA layers) and its processor.

    >>> model, processor = build()
    >>> type(processor).__name__, model.config.text_config.layer_types, model.config.vision_config.hidden_size
    ('Glm5NextProcessor', ['linear_attention', 'indexed_attention'], 32)
    """
    import torch
    from transformers import (
        Glm5NextConfig,
        Glm5NextForConditionalGeneration,
        Glm5NextImageProcessor,
        Glm5NextProcessor,
        Glm5NextVideoProcessor,
    )

    from tests.support.tiny_families._common import qwen_vit

    tokenizer, ids, eos = glm_v_tokenizer(GLM45_SPECIAL_TOKENS, GLM45V_CHAT_TEMPLATE)
    # 3 KDA : 1 DSA in the checkpoint; here KDA first, the last layer always DSA.
    layer_types = ["indexed_attention" if i % 4 == 3 or i == num_layers - 1 else "linear_attention" for i in range(num_layers)]
    config = Glm5NextConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "moe_intermediate_size": hidden_size,
            "num_hidden_layers": num_layers,
            "layer_types": layer_types,
            "mlp_layer_types": ["dense"] + ["sparse"] * (num_layers - 1),
            "indexer_types": ["full"] * num_layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "n_routed_experts": 4,
            "num_experts_per_tok": 2,
            "n_shared_experts": 1,
            "kv_lora_rank": 8,
            "q_lora_rank": 8,
            "qk_nope_head_dim": 8,
            "v_head_dim": 8,
            "index_topk": 128,
            "index_kpool": 4,
            "index_head_dim": 8,
            "index_n_heads": 2,
            "linear_head_dim": 8,
            "linear_num_heads": 2,
            "linear_conv_kernel_dim": 4,
            "hc_mult": 2,
            "hc_sinkhorn_iters": 4,
            "max_position_embeddings": 4096,
            "pad_token_id": ids["<|endoftext|>"],
            "eos_token_id": eos,
        },
        vision_config=qwen_vit(hidden_size, 14, image_size=frame_size, projection_intermediate_size=2 * hidden_size),
        **glm_v_media_ids(ids),
    )
    torch.manual_seed(seed)
    model = Glm5NextForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model, glm_v_processor((Glm5NextProcessor, Glm5NextImageProcessor, Glm5NextVideoProcessor), tokenizer, GLM45V_CHAT_TEMPLATE, frame_size)
