"""Tiny dots3.note (``Dots3NoteForConditionalGeneration``), built offline.

Real: the model class with the parts of ``dots-studio/dots3-note-prev`` that shape evaluation and training:
a DeepSeek-V3.2-style text model with multi-head latent attention (MLA: low-rank q and kv, a cached
*latent* plus a shared rope key per token, a headwise output gate) in two kinds of layers, layer 0
``indexed_attention`` (DSA: a lightning indexer picks each query's ``index_topk`` keys; its keys are
cached in a ``DynamicIndexedLayer``) and layer 1 ``sliding_attention`` (a window of ``sliding_window``
tokens, other MLA widths, its own rope theta), as the checkpoint's 13 full (DSA) and 33 sliding layers;
a dense first MLP then an MoE one (noaux-tc sigmoid router, a shared expert; 4 routed experts, top-2,
here, 256 and top-8 there); the MoE ViT (14-px patches, one frame at a time, dense then routed
blocks as its pyramid schedule, the ``merger`` into the text width); the Whisper-style audio tower with
its adapter; ``Dots3NoteProcessor`` with ``Qwen2VLImageProcessor``, ``Qwen3VLVideoProcessor`` (what
``AutoVideoProcessor`` maps ``dots3_note`` to) and ``Dots3NoteFeatureExtractor``; the placeholders
``<|imgpad|>``, ``<|video_pad|>``, ``<|audio_comp_pad|>``. Tiny: byte-level tokenizer, 16-wide text model
(2 heads, latent rank 8), a 16-token indexer budget and a 16-token window (the video prefix overflows
both), 32-wide 2-block ViT, a 1-layer 24-wide audio tower on 16 mel bins, frames resized to 56x56.

The chat template: the checkpoint's own was not available offline. This one has the dots family's
layout (dots.llm1/dots.vlm1: ``<|system|>...<|endofsystem|>`` with "You are a helpful assistant." when no
system turn is given, ``<|userprompt|>...<|endofuserprompt|>``, the generation prompt ``<|response|>``,
answers closed by ``<|endofresponse|>``), with a video item written as the bare ``<|video_pad|>`` the
processor expands (images as ``<|img|><|imgpad|><|endofimg|>``), as serving stacks for dots3.note write them.

What differs about the family:
- two cache kinds at once: ``DynamicIndexedLayer`` (MLA latents + indexer keys) and sliding-window layers
  the video prefix overflows, so neither is a plain ``DynamicLayer``: ``hf:`` copies the prefix cache per
  query; PanoDPO's shared prefix cannot share the indexer keys read-only and falls back to the plain path;
- 1-D positions (no M-RoPE), no token types: the video is ``<|video_pad|>`` x (patches / 4) in the text;
- frames are encoded one at a time (``temporal_patch_size`` 1): twice the visual tokens of a Qwen-VL;
- the DSA indexer chooses keys by top-k: no gradient reaches its projections.
"""

from __future__ import annotations

from typing import Any

DOTS_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|system|>",
    "<|endofsystem|>",
    "<|userprompt|>",
    "<|endofuserprompt|>",
    "<|response|>",
    "<|endofresponse|>",
    "<|img|>",
    "<|imgpad|>",
    "<|endofimg|>",
    "<|video_pad|>",
    "<|audio_comp_start|>",
    "<|audio_comp_end|>",
    "<|audio_comp_pad|>",
]

CHAT_TEMPLATE = (
    "{%- macro render(content) -%}{%- if content is string -%}{{ content }}{%- else -%}{%- for item in content -%}"
    "{%- if item['type'] == 'image' or 'image' in item -%}<|img|><|imgpad|><|endofimg|>"
    "{%- elif item['type'] == 'video' or 'video' in item -%}<|video_pad|>"
    "{%- elif item['type'] == 'audio' or 'audio' in item -%}<|audio_comp_start|><|audio_comp_pad|><|audio_comp_end|>"
    "{%- elif 'text' in item -%}{{ item['text'] }}{%- endif -%}{%- endfor -%}{%- endif -%}{%- endmacro -%}"
    "{%- if messages[0]['role'] == 'system' -%}<|system|>{{ render(messages[0]['content']) }}<|endofsystem|>"
    "{%- set start = 1 -%}{%- else -%}<|system|>You are a helpful assistant.<|endofsystem|>{%- set start = 0 -%}{%- endif -%}"
    "{%- for message in messages[start:] -%}"
    "{%- if message['role'] == 'user' -%}<|userprompt|>{{ render(message['content']) }}<|endofuserprompt|>"
    "{%- elif message['role'] == 'assistant' -%}<|response|>{{ render(message['content']) }}<|endofresponse|>{%- endif -%}"
    "{%- endfor -%}{%- if add_generation_prompt -%}<|response|>{%- endif -%}"
)


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random dots3.note (an indexed-attention then a sliding-window MLA layer, 4 experts) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layer_types, type(processor).__name__, model.config.vision_config.hidden_size
    (['indexed_attention', 'sliding_attention'], 'Dots3NoteProcessor', 32)
    """
    import torch
    from transformers import (
        Dots3NoteConfig,
        Dots3NoteFeatureExtractor,
        Dots3NoteForConditionalGeneration,
        Dots3NoteProcessor,
        Qwen2VLImageProcessor,
        Qwen3VLVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(DOTS_SPECIAL_TOKENS, eos="<|endofresponse|>", pad="<|endoftext|>", bos="<|endoftext|>",
                                     chat_template=CHAT_TEMPLATE)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in DOTS_SPECIAL_TOKENS}
    vision_dim = 2 * hidden_size
    latent = hidden_size // 2
    layer_types = ["indexed_attention" if i % 2 == 0 else "sliding_attention" for i in range(num_layers)]
    mla = {"num_attention_heads": 2, "num_key_value_heads": 2, "q_lora_rank": latent, "kv_lora_rank": latent,
           "qk_rope_head_dim": 4, "qk_nope_head_dim": 4, "v_head_dim": 4, "head_dim": 8}
    config = Dots3NoteConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "moe_intermediate_size": hidden_size,
            "shared_experts_intermediate_size": hidden_size,
            "num_hidden_layers": num_layers,
            "layer_types": layer_types,
            **mla,
            # the sliding layers' own MLA geometry (swa_*), as the checkpoint's (wider there)
            **{f"swa_{k}": v for k, v in mla.items() if k != "qk_rope_head_dim"},
            "n_shared_experts": 1, "n_routed_experts": 4, "num_experts_per_tok": 2, "n_group": 1, "topk_group": 1,
            "index_topk": 16, "index_head_dim": 8, "index_n_heads": 2,
            "sliding_window": 16,
            "max_position_embeddings": 4096,
            "pad_token_id": ids["<|endoftext|>"],
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|endofresponse|>"],
        },
        vision_config={
            "hidden_size": vision_dim,
            "intermediate_size": 2 * vision_dim,
            "moe_intermediate_size": vision_dim,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "patch_size": 14,
            "pyramid_num_routed": [-1, 4],  # dense then routed blocks (25 dense, then 4..64 experts, in the checkpoint)
            "num_experts_per_tok": 2,
            "spatial_merge_size": 2,
            "adapter_in_dim": vision_dim,
            "adapter_out_dim": hidden_size,
            "adapter_merge_size": 2,
        },
        audio_config={
            "hidden_size": 24, "intermediate_size": 48, "num_hidden_layers": 1, "num_attention_heads": 2, "feature_size": 16,
            "downsample_hidden_size": 8, "adapter_input_size": 24, "adapter_out_dim": hidden_size, "max_position_embeddings": 64,
        },
        image_token_id=ids["<|imgpad|>"],
        video_token_id=ids["<|video_pad|>"],
        audio_token_id=ids["<|audio_comp_pad|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Dots3NoteForConditionalGeneration(config).eval()
    pixels = frame_size * frame_size
    size = {"shortest_edge": pixels, "longest_edge": pixels}
    vision = {"patch_size": 14, "temporal_patch_size": 1, "merge_size": 2}
    processor = Dots3NoteProcessor(
        image_processor=Qwen2VLImageProcessor(size=size, **vision),
        tokenizer=tokenizer,
        # (Qwen3VLVideoProcessor's longest_edge bounds the whole video's pixels, frames together)
        video_processor=Qwen3VLVideoProcessor(size={"shortest_edge": pixels, "longest_edge": pixels * 64}, do_sample_frames=False,
                                              cap_pixels_per_frame=False, **vision),
        feature_extractor=Dots3NoteFeatureExtractor(feature_size=16),
        chat_template=CHAT_TEMPLATE,
    )
    return model, processor
