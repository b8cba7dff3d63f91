"""Tiny Kimi-K2.5 (``Kimi_K25ForConditionalGeneration``), built offline.

Real: the model class and its config layout, as ``moonshotai/Kimi-K2.5`` / ``Kimi-K2.6``: MoonViT
(learned, interpolated 2D + temporal position embeddings, 2D rotary attention, frames of a chunk
pooled in time, 2x2 patch merge), the ``mm_projector`` (LayerNorm + 2-layer MLP over merged patches)
and a DeepSeek-V3 text model built with ``AutoModel`` (MLA attention: low-rank query and compressed
latent KV with a decoupled rotary part; sigmoid top-k MoE with ``e_score_correction_bias`` and a
shared expert after ``first_k_dense_replace`` dense layers; tied embeddings as the config's default);
``Kimi_K25Processor`` with ``Kimi_K25ImageProcessor`` and ``Kimi_K25VideoProcessor``; Kimi's
special tokens (``<|im_system|>``/``<|im_user|>``/``<|im_assistant|>``, ``<|im_middle|>``,
``<|im_end|>``, the ``<|media_begin|>``/``<|media_content|>``/``<|media_pad|>``/``<|media_end|>`` media
markers and the ``<|kimi_k25_video_placeholder|>`` the processor expands; ``[BOS]``/``[EOS]``/``[PAD]``,
generation stopping at ``<|im_end|>``) and a chat template laid out as the K2.5 checkpoint's
(no default system prompt; the video as its placeholder before the text; thinking by default)::

    <|im_system|>system<|im_middle|>{system}<|im_end|><|im_user|>user<|im_middle|><|kimi_k25_video_placeholder|>{text}<|im_end|><|im_assistant|>assistant<|im_middle|><think>

with ``thinking=False`` (the template's own switch name, which ``template_switches`` passes)
closing the block: ``...<|im_middle|><think></think>``.

Tiny: byte-level tokenizer; 16-wide DeepSeek-V3 text model of 2 layers (layer 0 dense, layer 1 MoE
with 4 routed experts of width 16, top-2, + 1 shared; 2 heads, latent ranks 8, rotary part 4 of a
12-wide query/key head); 32-wide 2-layer ViT; frames resized to fit 4x4 patches of 14 px (4 visual
tokens per chunk of 4 frames).

What differs about the family:
- the processor replaces the video placeholder with, per chunk of 4 frames (``temporal_patch_size``),
  ``HH:MM:SS.mmm<|media_begin|>video<|media_content|>`` + ``<|kimi_k25_video_placeholder|>``*n +
  ``<|media_end|>``: the frames of a chunk are pooled into one set of tokens, and the timestamp
  (from the source fps; 24 fps assumed for bare frames, with a warning) is text in the prompt;
- plain ``DynamicCache`` of MLA layers (a video prefix can be cached and cropped).
"""

from __future__ import annotations

from typing import Any

KIMI_SPECIAL_TOKENS = [
    "[BOS]",
    "[EOS]",
    "[PAD]",
    "[UNK]",
    "<|im_end|>",
    "<|im_user|>",
    "<|im_assistant|>",
    "<|im_system|>",
    "<|im_middle|>",
    "<|media_begin|>",
    "<|media_content|>",
    "<|media_end|>",
    "<|media_pad|>",
    "<|kimi_k25_video_placeholder|>",
    "<think>",
    "</think>",
]

# Laid out as Kimi-K2.5's chat template (tools left out): role headers `<|im_{role}|>{role}<|im_middle|>`,
# `<|im_end|>` after each turn, images as `<|media_begin|>image<|media_content|><|media_pad|><|media_end|>`,
# videos as the placeholder the processor expands, and a `<think>` opened by the generation prompt
# unless `thinking` is false.
KIMI_K25_CHAT_TEMPLATE = """
{%- macro render_content(msg) -%}
    {%- if msg.content is string -%}
        {{- msg.content -}}
    {%- else -%}
        {%- for item in msg.content -%}
            {%- if item.type == 'video' or 'video' in item -%}
                {{- '<|kimi_k25_video_placeholder|>' -}}
            {%- elif item.type == 'image' or 'image' in item -%}
                {{- '<|media_begin|>image<|media_content|><|media_pad|><|media_end|>' -}}
            {%- elif item.type == 'text' -%}
                {{- item.text -}}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro -%}
{%- for message in messages -%}
    {%- if message.role == 'system' -%}
        {{- '<|im_system|>system<|im_middle|>' -}}
    {%- elif message.role == 'user' -%}
        {{- '<|im_user|>user<|im_middle|>' -}}
    {%- elif message.role == 'assistant' -%}
        {{- '<|im_assistant|>assistant<|im_middle|>' -}}
        {%- set content = render_content(message) -%}
        {%- if '</think>' not in content -%}
            {{- '<think></think>' -}}
        {%- endif -%}
    {%- endif -%}
    {{- render_content(message) -}}
    {{- '<|im_end|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_assistant|>assistant<|im_middle|>' -}}
    {%- if thinking is defined and thinking is false -%}
        {{- '<think></think>' -}}
    {%- else -%}
        {{- '<think>' -}}
    {%- endif -%}
{%- endif -%}"""


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random Kimi-K2.5 (DeepSeek-V3 MoE text model) and its processor.

    >>> model, processor = build()
    >>> type(processor).__name__, model.config.text_config.model_type, model.config.vision_config.hidden_size
    ('Kimi_K25Processor', 'deepseek_v3', 32)
    """
    import torch
    from transformers import Kimi_K25Config, Kimi_K25ForConditionalGeneration, Kimi_K25ImageProcessor, Kimi_K25Processor, Kimi_K25VideoProcessor

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(KIMI_SPECIAL_TOKENS, eos="[EOS]", pad="[PAD]", bos="[BOS]", unk="[UNK]", chat_template=KIMI_K25_CHAT_TEMPLATE)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in KIMI_SPECIAL_TOKENS}
    eos = [ids["<|im_end|>"], ids["[EOS]"]]
    vision_dim = 2 * hidden_size
    patches_per_side = frame_size // 14
    config = Kimi_K25Config(
        text_config={
            "model_type": "deepseek_v3",
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "moe_intermediate_size": hidden_size,
            "num_hidden_layers": num_layers,
            "first_k_dense_replace": 1,
            "n_routed_experts": 4,
            "num_experts_per_tok": 2,
            "n_shared_experts": 1,
            "n_group": 1,
            "topk_group": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "q_lora_rank": 8,
            "kv_lora_rank": 8,
            "qk_rope_head_dim": 4,
            "qk_nope_head_dim": 8,
            "v_head_dim": 8,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
            "bos_token_id": ids["[BOS]"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["[PAD]"],
        },
        vision_config={
            "patch_size": 14,
            "pos_emb_height": patches_per_side,
            "pos_emb_width": patches_per_side,
            "pos_emb_time": 4,
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "hidden_size": vision_dim,
            "intermediate_size": 2 * vision_dim,
            "merge_kernel_size": [2, 2],
        },
        projection_hidden_size=vision_dim,
        image_token_id=ids["<|media_pad|>"],
        video_token_id=ids["<|kimi_k25_video_placeholder|>"],
        vision_start_token_id=ids["<|media_begin|>"],
        vision_end_token_id=ids["<|media_end|>"],
    )
    torch.manual_seed(seed)
    model = Kimi_K25ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = ids["[PAD]"]
    size = {"max_height": patches_per_side, "max_width": patches_per_side}  # patches per side, as the processors count them
    processor = Kimi_K25Processor(
        image_processor=Kimi_K25ImageProcessor(size=size, max_patches=patches_per_side**2),
        video_processor=Kimi_K25VideoProcessor(size=size, max_patches=patches_per_side**2, do_sample_frames=False),
        tokenizer=tokenizer,
        chat_template=KIMI_K25_CHAT_TEMPLATE,
    )
    return model, processor
