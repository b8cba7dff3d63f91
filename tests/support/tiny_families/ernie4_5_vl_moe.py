"""Tiny ERNIE-4.5-VL (``Ernie4_5_VLMoeForConditionalGeneration``), built offline.

Real: the model class and its config layout (a ViT with 2D rotary embeddings and a
``Ernie4_5_VLMoeVariableResolutionResamplerModel`` projector merging 2x2 patches and 2 frames; an
ERNIE-4.5 text model with 3D rotary position embeddings, the first layer dense and the others
*modality-isolated* MoE: separate text and vision expert sets routed by ``moe_mm_token_type_ids``,
plus shared experts), ``Ernie4_5_VLMoeProcessor`` with ``Ernie4_5_VLMoeImageProcessor`` and
``Ernie4_5_VLMoeVideoProcessor``, a Llama-like SentencePiece tokenizer with byte fallback as the
converted checkpoint's (``LlamaTokenizer`` in legacy mode: no BOS added, no prefix space; ``<unk>``
pad, ``</s>`` EOS, ``<|begin_of_sentence|>`` cls, ``<|end_of_sentence|>`` sep, ``<mask:1>``; the
multimodal tokens named on the tokenizer as ``image_token`` ... ``video_end_token``, which the
processor reads) and the chat template of ``baidu/ERNIE-4.5-VL-28B-A3B-PT`` (transformers'
conversion script)::

    <|begin_of_sentence|>{system}\\nUser: Video 1:<|VIDEO_START|><|VIDEO_PLACEHOLDER|><|VIDEO_END|>{text}\\nAssistant: <think>\\n\\n</think>\\n\\n

(the empty think block unless ``enable_thinking=True``). Tiny: 16-wide text model (1 head of 16;
2 experts of width 16 per modality, top-2, + 2 shared; real 64 per modality, top-6), 32-wide
2-block ViT, frames resized to 56x56 (8 video tokens per 4 frames), SentencePiece-like vocabulary
of a few hundred pieces.

What differs about the family:
- the video processor draws each frame's timestamp (``time: 00:00:00.00``) *into the pixels*
  with a TrueType font the hub checkpoint ships (``Roboto-Regular.ttf``); no font can be had
  offline, so here ``draw_on_frames=False`` (frames are left as given, no timestamp anywhere);
- video tokens are their own ``<|VIDEO_PLACEHOLDER|>`` token (one per 2 frames x 2x2 patches), and
  the processor returns ``moe_mm_token_type_ids`` (which expert set each position uses, the
  ``<|VIDEO_START|>``/``<|VIDEO_END|>`` markers included) next to ``mm_token_type_ids``: both must
  reach ``model(**inputs)``;
- a newline ends the system turn and starts ``Assistant:``; EOS ``</s>``, and the
  assistant turns of the template end with ``<|end_of_sentence|>``, so generation stops on either.

Not in ``FAMILIES`` yet: the ``hf:`` adapter's full-forward scoring and PanoDPO's collator append
answer tokens and extend ``mm_token_type_ids`` with zeros but not ``moe_mm_token_type_ids``, so
the MoE layers fail on the length mismatch (``IndexError: The shape of the mask [1, 234, 16] at
index 1 does not match the shape of the indexed tensor [1, 256, 16]``).
"""

from __future__ import annotations

from typing import Any

MM_TOKENS = {
    "image_token": "<|IMAGE_PLACEHOLDER|>",
    "image_start_token": "<|IMAGE_START|>",
    "image_end_token": "<|IMAGE_END|>",
    "video_token": "<|VIDEO_PLACEHOLDER|>",
    "video_start_token": "<|VIDEO_START|>",
    "video_end_token": "<|VIDEO_END|>",
}
SPECIAL_TOKENS = ["<|begin_of_sentence|>", "<|end_of_sentence|>", "<mask:1>", "<mask:7>", *MM_TOKENS.values(), "<think>", "</think>"]

# baidu/ERNIE-4.5-VL-28B-A3B-PT's chat template, as transformers' conversion script writes it.
CHAT_TEMPLATE = """{%- set image_count = namespace(value=0) -%}
{%- set video_count = namespace(value=0) -%}
{{- '<|begin_of_sentence|>' }}
{%- for message in messages -%}
    {%- if message.role in ['system', 'user'] -%}
        {%- if message.role == 'user' -%}
            {{- 'User: ' -}}
        {%- endif -%}
        {%- if message.content is string -%}
            {{- message.content -}}
        {%- else -%}
            {%- for content_item in message.content -%}
                {%- if content_item.type == 'text' -%}
                    {{- content_item.text -}}
                {%- elif content_item.type in ['image_url', 'image'] -%}
                    {%- set image_count.value = image_count.value + 1 -%}
                    Picture {{ image_count.value }}:<|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>
                {%- elif content_item.type in ['video_url', 'video'] -%}
                    {%- set video_count.value = video_count.value + 1 -%}
                    Video {{ video_count.value }}:<|VIDEO_START|><|VIDEO_PLACEHOLDER|><|VIDEO_END|>
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
        {%- if message.role == 'system' -%}
            {{- '\\n' -}}
        {%- endif -%}
    {%- elif message.role == 'assistant' -%}
        {%- macro extract_text_content(content_field) -%}
            {%- if content_field is string -%}
                {{- content_field -}}
            {%- elif content_field is iterable and content_field is not string -%}
                {%- set ns = namespace(text_parts=[]) -%}
                {%- for item in content_field -%}
                    {%- if item.type == 'text' -%}
                        {%- set ns.text_parts = ns.text_parts + [item.text] -%}
                    {%- endif -%}
                {%- endfor -%}
                {{- ns.text_parts | join("") -}}
            {%- else -%}
                {{- '' -}}
            {%- endif -%}
        {%- endmacro -%}
        {%- set reasoning_content = extract_text_content(message.reasoning_content) -%}
        {%- set content = extract_text_content(message.content) -%}
        {%- if '</think>' in content %}
            {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
            {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
        {%- endif %}
        {%- if reasoning_content %}
            {{- '\\n' + 'Assistant: ' + '<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n' + content.lstrip('\\n') }}
        {%- else %}
            {{- '\\n' + 'Assistant: ' + content }}
        {%- endif %}
        {{- '<|end_of_sentence|>' }}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt is not defined or add_generation_prompt is true %}
    {{- '\\nAssistant: ' -}}
    {%- if (enable_thinking is defined and enable_thinking is false) or enable_thinking is not defined %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
    {%- if enable_thinking is defined and enable_thinking is true %}{{- '<think>' }}{%- endif %}
{%- endif %}"""


def ernie_tokenizer(chat_template: str = CHAT_TEMPLATE):
    """A Llama-like SentencePiece tokenizer in legacy mode (no BOS, no prefix space), ERNIE's tokens."""
    from transformers import LlamaTokenizerFast

    from tests.support.tiny_families._tokenizers import _sentencepiece_like_vocab

    vocab, merges = _sentencepiece_like_vocab()
    tok = LlamaTokenizerFast(
        vocab=vocab,
        merges=merges,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<unk>",
        legacy=True,
        add_prefix_space=False,
        add_bos_token=False,
        add_eos_token=False,
        padding_side="right",
        extra_special_tokens=dict(MM_TOKENS),
    )
    tok.add_special_tokens({"cls_token": "<|begin_of_sentence|>", "sep_token": "<|end_of_sentence|>", "mask_token": "<mask:1>",
                            "additional_special_tokens": SPECIAL_TOKENS})
    tok.chat_template = chat_template
    tok.padding_side = "right"
    return tok


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random ERNIE-4.5-VL and its processor (frames resized to about ``frame_size``, a multiple of 28).

    >>> model, processor = build()
    >>> type(processor).__name__, processor.video_token, model.config.text_config.mlp_layer_types
    ('Ernie4_5_VLMoeProcessor', '<|VIDEO_PLACEHOLDER|>', ['dense', 'sparse'])
    """
    import torch
    from transformers import (
        Ernie4_5_VLMoeConfig,
        Ernie4_5_VLMoeForConditionalGeneration,
        Ernie4_5_VLMoeImageProcessor,
        Ernie4_5_VLMoeProcessor,
        Ernie4_5_VLMoeVideoProcessor,
    )

    tokenizer = ernie_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in [*SPECIAL_TOKENS, "</s>", "<unk>", "<s>"]}
    eos = [ids["</s>"], ids["<|end_of_sentence|>"]]
    vision_dim = 2 * hidden_size
    config = Ernie4_5_VLMoeConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 1,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            # head_dim 16: 8 frequency pairs split h/w/t (real: 22/22/20 of 64)
            "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0, "mrope_section": [3, 3, 2]},
            "moe_intermediate_size": [hidden_size, hidden_size],
            "moe_k": 2,
            "moe_num_experts": 2,
            "moe_num_shared_experts": 2,
            "mlp_layer_types": ["dense"] + ["sparse"] * (num_layers - 1),
            "use_bias": False,
            "tie_word_embeddings": True,
            "pad_token_id": ids["<unk>"],
            "bos_token_id": ids["<s>"],
            "eos_token_id": ids["</s>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": vision_dim,
            "intermediate_size": 2 * vision_dim,
            "num_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_merge_size": 2,
        },
        image_token_id=ids["<|IMAGE_PLACEHOLDER|>"],
        image_start_token_id=ids["<|IMAGE_START|>"],
        image_end_token_id=ids["<|IMAGE_END|>"],
        video_token_id=ids["<|VIDEO_PLACEHOLDER|>"],
        video_start_token_id=ids["<|VIDEO_START|>"],
        video_end_token_id=ids["<|VIDEO_END|>"],
    )
    torch.manual_seed(seed)
    model = Ernie4_5_VLMoeForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = ids["<unk>"]
    pixels = frame_size * frame_size
    processor = Ernie4_5_VLMoeProcessor(
        image_processor=Ernie4_5_VLMoeImageProcessor(size={"shortest_edge": pixels, "longest_edge": pixels}),
        video_processor=Ernie4_5_VLMoeVideoProcessor(size={"shortest_edge": pixels, "longest_edge": pixels},
                                                     draw_on_frames=False, do_sample_frames=False),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    return model, processor
