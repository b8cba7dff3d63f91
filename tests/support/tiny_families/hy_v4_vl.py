"""Tiny HY-4-VL (``HYV4VLForConditionalGeneration``), built offline.

Real: the model class with the parts of ``tencent/Hy4`` that shape evaluation and training: the HY-4
text model (MLA: low-rank q and kv, a cached latent plus a shared rope key per token, a headwise
output gate, learned attention sinks; every layer ``indexed_attention``, DSA: a lightning indexer picks
each query's ``index_topk`` keys, "full" layers score them, "shared" layers reuse the previous full
layer's choice; indexer keys cached in a ``DynamicIndexedLayer``), iHC hyper-connections (``hc_mult``
residual streams), a dense first MLP then MoE (sigmoid router, a shared expert, fused routed experts
with a clamped SwiGLU), M-RoPE on the rope slice; the HunYuan-VL ViT (16-px patches, learned position
grid interpolated per frame, one frame at a time) ending in ``patch_merger`` (2x2 conv + 1x1 conv into
the text width + a learned ``image_newline`` after every merged row) as the projector inside the tower;
``HYV4VLProcessor`` with ``HYV4VLImageProcessor`` and ``HYV4VLVideoProcessor`` (``AutoVideoProcessor``'s
mapping), the placeholders ``<|image_pad|>`` / ``<|video_pad|>`` (the processor's defaults) expanded to
``rows * (cols + 1)`` tokens per frame, ``mm_token_type_ids`` returned always.

Tiny: byte-level tokenizer; 16-wide text model (2 heads, latent ranks 8, rope slice 8 with M-RoPE
sections (2, 1, 1); real 6144 wide, 78 layers), 4 routed experts top-2 + 1 shared (real 256, top-8),
a 32-key indexer budget (the matrix's prompts are longer, so their last queries attend sparsely),
2 hyper-connection streams (real 4); 32-wide 1-block ViT on a 4x4 position grid, frames resized to
at most 64x64 (a 48x64 frame: 1 row of 2 merged patches + its newline = 3 tokens).

The chat template: the checkpoint's own was not available offline, so this one is a reconstruction in
the HunYuan chat layout (HunYuan dense / HunyuanOCR / Hy-MT): ``<｜hy_begin▁of▁sentence｜>``, then the
system text closed by ``<｜hy_place▁holder▁no▁3｜>``, user turns after ``<｜hy_User｜>``, answers after
``<｜hy_Assistant｜>`` closed by ``<｜hy_place▁holder▁no▁2｜>`` (the EOS); a video item as
``<｜hy_place▁holder▁no▁100｜><|video_pad|><｜hy_place▁holder▁no▁101｜>`` (HunyuanOCR's image start/end
markers around the processor's placeholder). What is real about thinking: transformers' example passes
``reasoning_effort="no_think"`` to ``apply_chat_template``; the empty ``<think>\\n\\n</think>\\n`` the
generation prompt then gets is HunYuan-A13B's no-think layout, reconstructed here.

What differs about the family:
- every layer is DSA-indexed MLA (``DynamicIndexedLayer``): ``hf:`` copies the video prefix's cache per
  query; PanoDPO's shared prefix cannot share the indexer keys read-only and falls back to the plain path;
- a newline embedding ends every merged row of every frame; M-RoPE gives each frame its own block of
  ``max(rows, cols + 1)`` positions (from ``mm_token_type_ids``);
- the thinking switch is ``reasoning_effort`` (``"no_think"`` to answer directly);
- the LM head is kept in fp32; the DSA indexer picks keys by top-k, so no gradient reaches it.
"""

from __future__ import annotations

from typing import Any

BOS = "<｜hy_begin▁of▁sentence｜>"
EOS = "<｜hy_place▁holder▁no▁2｜>"
SYSTEM_END = "<｜hy_place▁holder▁no▁3｜>"
USER = "<｜hy_User｜>"
ASSISTANT = "<｜hy_Assistant｜>"
PAD = "<｜hy_pad｜>"
VISION_START = "<｜hy_place▁holder▁no▁100｜>"
VISION_END = "<｜hy_place▁holder▁no▁101｜>"
HY_SPECIAL_TOKENS = [BOS, EOS, SYSTEM_END, USER, ASSISTANT, PAD, VISION_START, VISION_END,
                     "<|image_pad|>", "<|video_pad|>", "<think>", "</think>"]

CHAT_TEMPLATE = (
    "{%- macro render(content) -%}{%- if content is string -%}{{ content }}{%- else -%}{%- for item in content -%}"
    "{%- if item['type'] == 'image' or 'image' in item -%}" + VISION_START + "<|image_pad|>" + VISION_END +
    "{%- elif item['type'] == 'video' or 'video' in item -%}" + VISION_START + "<|video_pad|>" + VISION_END +
    "{%- elif 'text' in item -%}{{ item['text'] }}{%- endif -%}{%- endfor -%}{%- endif -%}{%- endmacro -%}"
    "{{- '" + BOS + "' -}}"
    "{%- if messages[0]['role'] == 'system' -%}{{ render(messages[0]['content']) }}" + SYSTEM_END +
    "{%- set start = 1 -%}{%- else -%}{%- set start = 0 -%}{%- endif -%}"
    "{%- for message in messages[start:] -%}"
    "{%- if message['role'] == 'user' -%}" + USER + "{{ render(message['content']) }}"
    "{%- elif message['role'] == 'assistant' -%}" + ASSISTANT + "{{ render(message['content']) }}" + EOS +
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}" + ASSISTANT +
    "{%- if reasoning_effort is defined and reasoning_effort == 'no_think' -%}<think>\n\n</think>\n{% endif -%}"
    "{%- endif -%}"
)


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 64) -> tuple[Any, Any]:
    """A random HY-4-VL (DSA-indexed MLA layers, 4 experts, iHC) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layer_types, type(processor).__name__, model.config.vision_config.hidden_size
    (['indexed_attention', 'indexed_attention'], 'HYV4VLProcessor', 32)
    """
    import torch
    from transformers import (
        HYV4VLConfig,
        HYV4VLForConditionalGeneration,
        HYV4VLImageProcessor,
        HYV4VLProcessor,
        HYV4VLVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(HY_SPECIAL_TOKENS, eos=EOS, pad=PAD, bos=BOS, chat_template=CHAT_TEMPLATE)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in HY_SPECIAL_TOKENS}
    vision_dim = 2 * hidden_size
    latent = hidden_size // 2
    config = HYV4VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "moe_intermediate_size": hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 2,
            "q_lora_rank": latent,
            "kv_lora_rank": latent,
            "qk_nope_head_dim": 4,
            "qk_rope_head_dim": 8,
            "v_head_dim": 4,
            "n_routed_experts": 4,
            "num_experts_per_tok": 2,
            "n_shared_experts": 1,
            "index_topk": 32,
            "index_head_dim": 8,
            "index_n_heads": 2,
            "hc_mult": 2,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]},
            "max_position_embeddings": 4096,
            "pad_token_id": ids[PAD],
            "bos_token_id": ids[BOS],
            "eos_token_id": ids[EOS],
        },
        vision_config={
            "hidden_size": vision_dim,
            "intermediate_size": 2 * vision_dim,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "out_hidden_size": hidden_size,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "max_image_size": frame_size,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = HYV4VLForConditionalGeneration(config).eval()
    pixels = frame_size * frame_size
    processor = HYV4VLProcessor(
        image_processor=HYV4VLImageProcessor(size={"shortest_edge": pixels // 4, "longest_edge": pixels}),
        tokenizer=tokenizer,
        # (the video processor's longest_edge bounds the whole clip's pixels; max_image_size each frame's)
        video_processor=HYV4VLVideoProcessor(size={"shortest_edge": pixels, "longest_edge": pixels * 64},
                                             max_image_size={"longest_edge": pixels}),
        chat_template=CHAT_TEMPLATE,
    )
    return model, processor
