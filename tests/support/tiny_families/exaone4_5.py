"""Tiny EXAONE 4.5 (``Exaone4_5_ForConditionalGeneration``), built offline.

Real: the model class and its config layout, as ``LGAI-EXAONE/EXAONE-4.5-33B``: a Qwen2.5-VL-style
ViT (windowed attention with full-attention blocks at ``fullatt_block_indexes``, 2D rotary, GQA
heads) with its 2x2 ``merger`` as the projector inside the tower, and an EXAONE 4 text model built
with ``AutoModel`` (hybrid local/global attention by ``sliding_window_pattern``, the last layer
global; QK-norm; 1D positions: no M-RoPE, the processor returns no ``mm_token_type_ids``);
``Exaone4_5_Processor`` with ``Qwen2VLImageProcessor`` and ``Qwen2VLVideoProcessor`` (what the auto
classes map ``exaone4_5`` to); EXAONE 4's role tokens (``[|system|]``, ``[|user|]``, ``[|assistant|]``,
``[|endofturn|]``, eos ``[|endofturn|]``) and a chat template laid out as EXAONE 4.0's (turns end with
``[|endofturn|]`` and a newline, no default system prompt, ``<think>\\n`` after ``[|assistant|]`` only
when ``enable_thinking`` is true)::

    [|system|]{system}[|endofturn|]\\n[|user|]<|vision_start|><|video_pad|><|vision_end|>{text}[|endofturn|]\\n[|assistant|]

The EXAONE 4.5 hub template is not available offline: the video is wrapped in the Qwen-VL markers
``<|vision_start|>``/``<|vision_end|>`` its processor and tower come from (the processor itself
only expands ``<|video_pad|>``).

Tiny: byte-level tokenizer; 16-wide text model of 2 layers (layer 0 local with a 16-token window,
which the video prefix overflows, as with real frame counts; layer 1 global), 32-wide 2-block ViT
(block 0 windowed, block 1 full), frames resized to 56x56 (4 visual tokens per pair of frames).

What differs about the family: a sliding-window layer the video prefix overflows: the prefix
cache is copied per query (``hf:``) and the shared prefix keeps each sliding layer's mask; video
tokens are plain ``<|video_pad|>`` runs, with no timestamps.
"""

from __future__ import annotations

from typing import Any

EXAONE_SPECIAL_TOKENS = [
    "[PAD]",
    "[BOS]",
    "[|endofturn|]",
    "[|system|]",
    "[|user|]",
    "[|assistant|]",
    "[|tool|]",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

EXAONE4_5_CHAT_TEMPLATE = """
{%- macro render(content) -%}
    {%- if content is string -%}
        {{- content -}}
    {%- else -%}
        {%- for item in content -%}
            {%- if item.type == 'video' or 'video' in item -%}
                {{- '<|vision_start|><|video_pad|><|vision_end|>' -}}
            {%- elif item.type == 'image' or 'image' in item -%}
                {{- '<|vision_start|><|image_pad|><|vision_end|>' -}}
            {%- elif item.type == 'text' -%}
                {{- item.text -}}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro -%}
{%- for message in messages -%}
    {{- '[|' + message.role + '|]' + render(message.content) + '[|endofturn|]\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '[|assistant|]' -}}
    {%- if enable_thinking is defined and enable_thinking is true -%}
        {{- '<think>\\n' -}}
    {%- endif -%}
{%- endif -%}"""


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random EXAONE 4.5 and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layer_types, model.config.vision_config.hidden_size
    (['sliding_attention', 'full_attention'], 32)
    """
    import torch
    from transformers import (
        Exaone4_5_Config,
        Exaone4_5_ForConditionalGeneration,
        Exaone4_5_Processor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from tests.support.tiny_families._common import QWEN2_5_VIT_WINDOWS, pixel_budget, qwen_vit
    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(EXAONE_SPECIAL_TOKENS, eos="[|endofturn|]", pad="[PAD]", chat_template=EXAONE4_5_CHAT_TEMPLATE)
    tokenizer.add_tokens(["<think>", "</think>"], special_tokens=False)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in EXAONE_SPECIAL_TOKENS}
    config = Exaone4_5_Config(
        text_config={
            "model_type": "exaone4",
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 8,
            "sliding_window": 16,
            "sliding_window_pattern": 2,
            "max_position_embeddings": 4096,
            "bos_token_id": ids["[BOS]"],
            "eos_token_id": ids["[|endofturn|]"],
            "pad_token_id": ids["[PAD]"],
        },
        vision_config=qwen_vit(hidden_size, 14, num_key_value_heads=1, **QWEN2_5_VIT_WINDOWS),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
    )
    torch.manual_seed(seed)
    model = Exaone4_5_ForConditionalGeneration(config).eval()
    processor = Exaone4_5_Processor(
        image_processor=Qwen2VLImageProcessor(size=pixel_budget(frame_size)),
        video_processor=Qwen2VLVideoProcessor(size=pixel_budget(frame_size, 64), do_sample_frames=False),
        tokenizer=tokenizer,
        chat_template=EXAONE4_5_CHAT_TEMPLATE,
    )
    return model, processor
