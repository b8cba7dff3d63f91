"""Tiny Cohere Compass (``CohereCompassForConditionalGeneration``), built offline.

Real: the model class and its config layout, as ``CohereLabs/North-Micro-Vision-Instruct``: the
Qwen3-VL vision tower (16-px patches, learned interpolated position embeddings, 2x2 ``merger`` and
a DeepStack merger feeding the text model's first layer) and a Cohere2 text model (parallel
attention + MLP blocks under one LayerNorm, sliding-window layers with interleaved M-RoPE and
full-attention layers without rotary embeddings (NoPE: ``rope_parameters["full_attention"] = None``),
logits scaled by ``logit_scale``); ``CohereCompassProcessor`` (Qwen3-VL's, with Cohere's upper-case
vision tokens) with ``CohereCompassImageProcessor`` and ``CohereCompassVideoProcessor`` (Qwen3-VL's
video processor); Cohere's special tokens (``<BOS_TOKEN>``, ``<|START_OF_TURN_TOKEN|>``,
``<|USER_TOKEN|>``, ``<|CHATBOT_TOKEN|>``, ``<|SYSTEM_TOKEN|>``, ``<|START_RESPONSE|>``,
``<|END_RESPONSE|>``, eos ``<|END_OF_TURN_TOKEN|>``, ``<|VISION_START|>``, ``<|VISION_END|>``,
``<|IMAGE_PAD|>``, ``<|VIDEO_PAD|>``) and a chat template laid out as Cohere2's (the ``trl`` wheel's
``cohere2.jinja``: turns ``<|START_OF_TURN_TOKEN|><|ROLE_TOKEN|>...<|END_OF_TURN_TOKEN|>``, the
assistant's text inside ``<|START_RESPONSE|>...<|END_RESPONSE|>``, generation prompt
``<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>``)::

    <BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{system}<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|><|VISION_START|><|VIDEO_PAD|><|VISION_END|>{text}<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>

The North hub template itself is not available offline: the video is written as Qwen3-VL writes
it, wrapped in the vision markers (the processor expands ``<|VIDEO_PAD|>`` only, as Qwen3-VL's);
Cohere2's long default safety preamble is left out (no system turn unless one is given).

Tiny: byte-level tokenizer; 16-wide text model of 2 layers (layer 0 sliding with an 8-token window,
which the video prefix overflows, as with real frame counts; layer 1 full attention, NoPE), 32-wide
2-block ViT, frames resized to 64x64 (4 visual tokens per pair of frames).

What differs about the family:
- ``<t seconds>`` + ``<|VISION_START|>...<|VISION_END|>`` per 2 frames, as Qwen3-VL (bare frames have
  no fps: the processor warns and assumes 24 fps);
- M-RoPE from ``mm_token_type_ids`` on the sliding layers only; the full-attention layers are NoPE;
- sliding-window layers overflowed by the video prefix: the prefix cache is copied per query.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families._common import qwen_vit
from tests.support.tiny_families.qwen3_vl import interleaved_mrope_section, qwen3_vl_processor

COHERE_SPECIAL_TOKENS = [
    "<PAD>",
    "<UNK>",
    "<BOS_TOKEN>",
    "<|END_OF_TURN_TOKEN|>",
    "<|START_OF_TURN_TOKEN|>",
    "<|USER_TOKEN|>",
    "<|CHATBOT_TOKEN|>",
    "<|SYSTEM_TOKEN|>",
    "<|START_RESPONSE|>",
    "<|END_RESPONSE|>",
    "<|START_THINKING|>",
    "<|END_THINKING|>",
    "<|VISION_START|>",
    "<|VISION_END|>",
    "<|IMAGE_PAD|>",
    "<|VIDEO_PAD|>",
]

COHERE_COMPASS_CHAT_TEMPLATE = """
{%- macro render(content) -%}
    {%- if content is string -%}
        {{- content -}}
    {%- else -%}
        {%- for item in content -%}
            {%- if item.type == 'video' or 'video' in item -%}
                {{- '<|VISION_START|><|VIDEO_PAD|><|VISION_END|>' -}}
            {%- elif item.type == 'image' or 'image' in item -%}
                {{- '<|VISION_START|><|IMAGE_PAD|><|VISION_END|>' -}}
            {%- elif item.type == 'text' -%}
                {{- item.text -}}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro -%}
{{- bos_token -}}
{%- for message in messages -%}
    {%- set role = message['role'] | lower -%}
    {{- '<|START_OF_TURN_TOKEN|>' -}}
    {%- if role == 'system' -%}
        {{- '<|SYSTEM_TOKEN|>' + render(message['content']) -}}
    {%- elif role == 'user' -%}
        {{- '<|USER_TOKEN|>' + render(message['content']) -}}
    {%- elif role == 'assistant' or role == 'chatbot' -%}
        {{- '<|CHATBOT_TOKEN|><|START_RESPONSE|>' + render(message['content']) + '<|END_RESPONSE|>' -}}
    {%- endif -%}
    {{- '<|END_OF_TURN_TOKEN|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>' -}}
{%- endif -%}
""".strip()


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 64, sliding_window: int = 8) -> tuple[Any, Any]:
    """A random Cohere Compass (sliding M-RoPE + full NoPE layers) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layer_types, model.config.text_config.rope_parameters["full_attention"]
    (['sliding_attention', 'full_attention'], None)
    """
    import torch
    from transformers import (
        CohereCompassConfig,
        CohereCompassForConditionalGeneration,
        CohereCompassImageProcessor,
        CohereCompassProcessor,
        CohereCompassVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(COHERE_SPECIAL_TOKENS, eos="<|END_OF_TURN_TOKEN|>", pad="<PAD>", bos="<BOS_TOKEN>",
                                     unk="<UNK>", chat_template=COHERE_COMPASS_CHAT_TEMPLATE)
    tid = tokenizer.convert_tokens_to_ids
    eos = [tid("<|END_OF_TURN_TOKEN|>"), tid("<|END_RESPONSE|>")]
    heads = 2
    head_dim = hidden_size // heads
    layer_types = ["sliding_attention" if (i + 1) % 4 else "full_attention" for i in range(num_layers)]
    layer_types[-1] = "full_attention"
    patch = 16
    grid = max(frame_size // patch, 4)
    config = CohereCompassConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": heads,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "layer_types": layer_types,
            "sliding_window": sliding_window,
            "rope_parameters": {
                "sliding_attention": {"rope_type": "default", "rope_theta": 50000.0,
                                      "mrope_section": interleaved_mrope_section(head_dim), "mrope_interleaved": True},
                "full_attention": None,
            },
            "logit_scale": 0.25,
            "bos_token_id": tid("<BOS_TOKEN>"),
            "eos_token_id": eos,
            "pad_token_id": tid("<PAD>"),
            "tie_word_embeddings": True,
        },
        vision_config=qwen_vit(hidden_size, patch, num_position_embeddings=grid * grid, deepstack_visual_indexes=[0]),
        image_token_id=tid("<|IMAGE_PAD|>"),
        video_token_id=tid("<|VIDEO_PAD|>"),
        vision_start_token_id=tid("<|VISION_START|>"),
        vision_end_token_id=tid("<|VISION_END|>"),
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = CohereCompassForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tid("<PAD>")
    processor = qwen3_vl_processor(tokenizer, COHERE_COMPASS_CHAT_TEMPLATE, frame_size, patch,
                                   (CohereCompassProcessor, CohereCompassImageProcessor, CohereCompassVideoProcessor))
    return model, processor
