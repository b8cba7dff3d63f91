"""Tiny LFM3-VL (``Lfm3VlForConditionalGeneration``), built offline.

Real: the model class and its config layout, as ``LiquidAI/LFM3-VL-2B``: a hybrid vision encoder
(patch embedding of 2-frame tubelets, depthwise short-convolution layers over each frame's patch
grid mixed with full-attention layers with 2D rotary positions), a ``multi_modal_projector``
(LayerNorm, then a 2-layer MLP over each 2x2 block of patches) and an LFM3 text model built with
``AutoModel`` (gated short-convolution ``conv`` layers with a rolling conv state, sliding-window and
full attention layers with sandwich norms and sigmoid head gates; tied embeddings);
``Lfm3VlProcessor`` with ``Qwen2VLImageProcessor`` and ``Qwen3VLVideoProcessor`` (what
``AutoImageProcessor``/``AutoVideoProcessor`` map ``lfm3_vl`` to); LFM's special tokens (BOS
``<|startoftext|>`` written by the template, ``<|im_start|>``/``<|im_end|>`` ChatML turns, eos
``<|im_end|>``, pad ``<|pad|>``; ``<|vision_start|>``/``<|vision_end|>``/``<|image_pad|>``/``<|video_pad|>``)
and a ChatML chat template laid out as the LFM2.5-VL hub template (``trl``'s ``lfm2_2_5_vl.jinja``:
BOS, the system turn only when given, no thinking in the generation prompt), with the video item
written as the bare ``<|video_pad|>`` the processor expands::

    <|startoftext|><|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n<|video_pad|>{text}<|im_end|>\\n<|im_start|>assistant\\n

Tiny: byte-level tokenizer; 16-wide text model of 2 layers (layer 0 ``conv``, layer 1 full attention;
real: 3 types in a 4-layer pattern), 32-wide vision encoder of 2 layers (a short-conv then an
attention layer), frames resized to 64x64 with 16-px patches (4 visual tokens per pair of frames).

What differs about the family:
- the text model's short-convolution layers keep a conv state (a ``LinearAttentionLayer`` in the
  ``DynamicCache``): the cache cannot be cropped, so ``hf:`` copies the video prefix's cache per
  query, and PanoDPO's shared prefix falls back to the plain path with one logged line;
- timestamps in the prompt, as Qwen3-VL: ``<t seconds><|vision_start|><|video_pad|>*n<|vision_end|>``
  per pair of frames (``t`` averaged over the pair; bare frames: 24 fps assumed, with a warning).
"""

from __future__ import annotations

from typing import Any

LFM_SPECIAL_TOKENS = [
    "<|pad|>",
    "<|startoftext|>",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

LFM3_VL_CHAT_TEMPLATE = """{{- bos_token -}}
{%- macro parse_content(content) -%}
    {%- if content is string -%}
        {{- content -}}
    {%- else -%}
        {%- for item in content -%}
            {%- if item.type == 'video' or 'video' in item -%}
                {{- '<|video_pad|>' -}}
            {%- elif item.type == 'image' or 'image' in item -%}
                {{- '<|image_pad|>' -}}
            {%- elif item.type == 'text' -%}
                {{- item.text -}}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro -%}
{%- for message in messages -%}
    {{- '<|im_start|>' + message.role + '\\n' + parse_content(message.content) + '<|im_end|>\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\\n' -}}
{%- endif -%}"""


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 64) -> tuple[Any, Any]:
    """A random LFM3-VL (a short-conv layer, then a full-attention layer) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layer_types, model.config.vision_config.layer_types
    (['conv', 'full_attention'], ['conv', 'full_attention'])
    """
    import torch
    from transformers import Lfm3VlConfig, Lfm3VlForConditionalGeneration, Lfm3VlProcessor, Qwen2VLImageProcessor, Qwen3VLVideoProcessor

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer
    from tests.support.tiny_families.qwen3_vl import qwen3_vl_processor

    tokenizer = byte_level_tokenizer(LFM_SPECIAL_TOKENS, eos="<|im_end|>", pad="<|pad|>", bos="<|startoftext|>", chat_template=LFM3_VL_CHAT_TEMPLATE)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in LFM_SPECIAL_TOKENS}
    layer_types = ["full_attention" if i % 4 == 2 or i == num_layers - 1 else "sliding_attention" if i % 4 == 0 and i > 0 else "conv"
                   for i in range(num_layers)]
    vision_dim = 2 * hidden_size
    patch = 16
    config = Lfm3VlConfig(
        text_config={
            "model_type": "lfm3",
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "layer_types": layer_types,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 8,
            "conv_L_cache": 3,
            "max_position_embeddings": 4096,
            "sliding_window": 64,
            "pad_token_id": ids["<|pad|>"],
            "bos_token_id": ids["<|startoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
        },
        vision_config={
            "hidden_size": vision_dim,
            "intermediate_size": 2 * vision_dim,
            "num_hidden_layers": 2,
            "layer_types": ["conv", "full_attention"],
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "patch_size": patch,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        projector_hidden_size=2 * hidden_size,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Lfm3VlForConditionalGeneration(config).eval()
    processor = qwen3_vl_processor(tokenizer, LFM3_VL_CHAT_TEMPLATE, frame_size, patch, (Lfm3VlProcessor, Qwen2VLImageProcessor, Qwen3VLVideoProcessor))
    return model, processor
