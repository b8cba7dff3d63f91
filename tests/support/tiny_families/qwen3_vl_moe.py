"""Tiny Qwen3-VL-MoE (``Qwen3VLMoeForConditionalGeneration``), built offline.

Real: the model class with sparse MoE feed-forward blocks in every text layer (4 experts of width 16,
top-2 routing, as 128 experts / top-8 in ``Qwen/Qwen3-VL-30B-A3B-Instruct``), the Qwen3-VL vision tower
(16-px patches, learned interpolated position embeddings, DeepStack), ``Qwen3VLProcessor`` (the family
has no processor of its own: ``AutoProcessor`` maps ``qwen3_vl_moe`` to it) with ``Qwen2VLImageProcessor``
and ``Qwen3VLVideoProcessor``, Qwen's special tokens and the Qwen3-VL hub chat template (``trl``'s
``qwen3_vl.jinja``; no default system prompt). Tiny: byte-level tokenizer, 16-wide text model, 32-wide
2-block ViT, frames resized to 64x64 (4 visual tokens per pair of frames).

What differs about the family (as Qwen3-VL):
- timestamps in the prompt: ``<|video_pad|>`` expands to ``<t seconds><|vision_start|>...<|vision_end|>``
  per pair of frames; bare frames are assumed 24 fps with a warning (pass ``video_metadata`` for true times);
- ``mm_token_type_ids`` from the processor; plain ``DynamicCache`` (prefix can be cached and cropped);
- MoE routing: with ``output_router_logits`` the output has an auxiliary load-balancing loss.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen3_vl import build_qwen3_vl_family


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 64) -> tuple[Any, Any]:
    """A random Qwen3-VL-MoE and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.num_experts, model.config.vision_config.hidden_size, model.config.text_config.hidden_size
    (4, 32, 16)
    """
    from transformers import Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration

    moe = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": hidden_size, "decoder_sparse_step": 1}
    return build_qwen3_vl_family(Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration, moe, hidden_size, num_layers, seed, frame_size)
