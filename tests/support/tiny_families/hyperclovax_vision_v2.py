"""Tiny HyperCLOVA X Vision V2 (``HyperCLOVAXVisionV2ForConditionalGeneration``), built offline.

Real: the model class with the parts of ``naver-hyperclovax/HyperCLOVAX-SEED-Think-32B`` that shape
evaluation and training: a Qwen2.5-VL ViT (windowed attention with full-attention blocks, 2D rotary,
its 2x2 ``merger``) built with ``AutoModel``, a linear ``projector`` outside the tower into the text
width, and a HyperCLOVA X text model (Llama-like with peri-layer norms and muP-style multipliers:
``embedding_multiplier``, ``residual_multiplier``, ``attention_multiplier``, ``logits_scaling``; 1D
positions, no token types); ``HyperCLOVAXVisionV2Processor`` with ``Qwen2VLImageProcessor`` and
``Qwen2VLVideoProcessor`` (what the auto classes map ``hyperclovax_vision_v2`` to), which expands
``<|image_pad|>`` / ``<|video_pad|>``, and is stateful: ``apply_chat_template`` records which video
items carry no ``video_duration``, and the processor call then writes each such video's duration in
seconds (``total frames / fps``, 24 fps when the frames come bare) over the literal
``<|video_duration|>`` the hub template leaves in its text. Also real (transformers' model docs): an empty
``<think>\\n\\n</think>`` block opens the answer unless ``thinking=True`` is passed.

Tiny: byte-level tokenizer; 16-wide text model of 2 layers (2 heads, 1 KV head); 32-wide 2-block ViT
(block 0 windowed, block 1 full) whose merger outputs 24 wide, so that the ``projector`` maps 24 -> 16;
frames resized to 56x56 (4 visual tokens per pair of frames).

The chat template: the checkpoint's own could not be recovered offline. What is real: the
``"video_duration": <|video_duration|>`` JSON text it writes for a video without a duration (the
processor's own comment and tests), the empty-think default and the ``thinking`` switch. The rest is a
reconstruction in the HyperCLOVA X Vision layout (HyperCLOVAX-SEED-Vision-Instruct-3B, as serving
stacks write it): ``<|im_start|>{role}\\n...<|im_end|>\\n`` turns, each video as a ``user (mime)`` turn
holding its JSON description then a ``user (vector)`` turn holding the placeholder (here wrapped in
Qwen-VL's ``<|vision_start|>``/``<|vision_end|>``, as its tower's family does), then the text as a
``user`` turn::

    <|im_start|>user (mime)\\n{"type": "video/mp4", "filename": "", "video_duration": <|video_duration|>}<|im_end|>\\n
    <|im_start|>user (vector)\\n<|vision_start|><|video_pad|><|vision_end|><|im_end|>\\n
    <|im_start|>user\\n{text}<|im_end|>\\n<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n

What differs about the family: the prompt text before the video holds a number computed from the
video (its duration), filled in by the processor call, never by the template; ``projector`` outside
the tower; a logits scale on the LM head.
"""

from __future__ import annotations

from typing import Any

HCX_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|endofturn|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|video_duration|>",
    "<think>",
    "</think>",
]

HCX_CHAT_TEMPLATE = """
{%- macro mime(item) -%}
    {%- if item.type == 'video' or 'video' in item -%}
        {{- '<|im_start|>user (mime)\\n{"type": "video/mp4", "filename": "", "video_duration": ' -}}
        {%- if item.video_duration is defined -%}{{- item.video_duration | tojson -}}{%- else -%}{{- '<|video_duration|>' -}}{%- endif -%}
        {{- '}<|im_end|>\\n<|im_start|>user (vector)\\n<|vision_start|><|video_pad|><|vision_end|><|im_end|>\\n' -}}
    {%- else -%}
        {{- '<|im_start|>user (mime)\\n{"type": "image/jpeg", "filename": ""}<|im_end|>\\n' -}}
        {{- '<|im_start|>user (vector)\\n<|vision_start|><|image_pad|><|vision_end|><|im_end|>\\n' -}}
    {%- endif -%}
{%- endmacro -%}
{%- for message in messages -%}
    {%- if message.content is string -%}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}
    {%- else -%}
        {%- set ns = namespace(text='') -%}
        {%- for item in message.content -%}
            {%- if item.type in ['video', 'image'] or 'video' in item or 'image' in item -%}
                {{- mime(item) -}}
            {%- elif item.type == 'text' -%}
                {%- set ns.text = ns.text + item.text -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if ns.text or message.role != 'user' -%}
            {{- '<|im_start|>' + message.role + '\\n' + ns.text + '<|im_end|>\\n' -}}
        {%- endif -%}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\\n' -}}
    {%- if not (thinking is defined and thinking is true) -%}
        {{- '<think>\\n\\n</think>\\n\\n' -}}
    {%- endif -%}
{%- endif -%}"""


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random HyperCLOVA X Vision V2 and its processor.

    >>> model, processor = build()
    >>> type(processor).__name__, model.config.vision_config.out_hidden_size, model.config.text_config.hidden_size
    ('HyperCLOVAXVisionV2Processor', 24, 16)
    """
    import torch
    from transformers import (
        HyperCLOVAXVisionV2Config,
        HyperCLOVAXVisionV2ForConditionalGeneration,
        HyperCLOVAXVisionV2Processor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from tests.support.tiny_families._common import QWEN2_5_VIT_WINDOWS, pixel_budget, qwen_vit
    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(HCX_SPECIAL_TOKENS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=HCX_CHAT_TEMPLATE)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in HCX_SPECIAL_TOKENS}
    config = HyperCLOVAXVisionV2Config(
        text_config={
            "model_type": "hyperclovax",
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 8,
            "max_position_embeddings": 4096,
            # muP-style multipliers, as the checkpoint sets them (values tiny-sized here)
            "embedding_multiplier": 2.0,
            "residual_multiplier": 0.5,
            "attention_multiplier": 0.125,
            "logits_scaling": 0.5,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        # the merger outputs 24 wide, so that the projector maps 24 -> 16
        vision_config=qwen_vit(hidden_size, 14, model_type="qwen2_5_vl_vision", out_hidden_size=24, **QWEN2_5_VIT_WINDOWS),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = HyperCLOVAXVisionV2ForConditionalGeneration(config).eval()
    processor = HyperCLOVAXVisionV2Processor(
        image_processor=Qwen2VLImageProcessor(size=pixel_budget(frame_size)),
        video_processor=Qwen2VLVideoProcessor(size=pixel_budget(frame_size, 64), do_sample_frames=False, cap_pixels_per_frame=False),
        tokenizer=tokenizer,
        chat_template=HCX_CHAT_TEMPLATE,
    )
    return model, processor
