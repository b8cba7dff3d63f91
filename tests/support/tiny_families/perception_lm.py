"""Tiny PerceptionLM (timm Perception Encoder vision tower, Llama-3-style text model).

What is real: ``PerceptionLMForConditionalGeneration`` from a ``PerceptionLMConfig`` whose vision
tower is a ``TimmWrapperConfig`` of timm's ``vit_pe_core_large_patch14_336`` architecture (an
EVA/PE ViT with 2D RoPE, a CLS token dropped before the projector, layer scale), shrunk through
``model_args`` exactly as transformers' own PerceptionLM tests do (``embed_dim``, ``depth``,
``img_size``, ``ref_feat_shape``, ``global_pool=""``; the wrapper itself passes ``num_classes=0``); the 2-layer MLP
projector and 2x2 adaptive average pooling; ``PerceptionLMProcessor`` from
``PerceptionLMImageProcessor`` (thumbnail + tiles) and ``PerceptionLMVideoProcessor`` (frames
resized to one square tile); a byte-level BPE tokenizer (Llama-3's is byte-level) with the
checkpoint's special tokens (``<|begin_of_text|>`` BOS, which the post-processor prepends as
Llama-3's does, ``<|eot_id|>`` EOS, ``<|end_of_text|>`` pad, ``<|start_header_id|>``,
``<|end_header_id|>``, ``<|image|>``, ``<|video|>``); the chat layout of
``facebook/Perception-LM-1B`` (a default system prompt when none is given)::

    <|begin_of_text|><|start_header_id|>system<|end_header_id|>\\n\\n{system}<|eot_id|><|start_header_id|>user<|end_header_id|>\\n\\n<|video|>{text}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\\n\\n

What differs: widths (text 16, vision 32 instead of 2048 / 1024), depth, vocabulary, tile size
(``frame_size`` 56 px: 4x4 patches pooled to 4 tokens per frame; the hub uses 448 px, 256 tokens
per frame). The template here reads a system message given as a content list (the hub's applies
``|trim`` to ``content`` and so expects a string) and trims user text as the hub's does.

Frames: ``processor(text=..., videos=[frames], do_sample_frames=False)`` as for Qwen2-VL; each
``<|video|>`` expands to ``num_frames * (frame_size // 14 // 2) ** 2`` video tokens and the
processor returns ``pixel_values_videos`` (batch, frames, 3, frame_size, frame_size). The rendered
template starts with ``<|begin_of_text|>`` and the tokenizer prepends another one, so
``processor(text=[chat_text])`` gives two BOS tokens, as the real checkpoint does (pass
``add_special_tokens=False`` to avoid it).
"""

from __future__ import annotations

from typing import Any

# facebook/Perception-LM-*'s chat template (Llama-3 headers; the video placeholder opens the
# user turn, right after its header).
CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string %}{%- set system_message = messages[0]['content']|trim %}"
    "{%- else %}{%- set system_message = messages[0]['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text') | join('') | trim %}{%- endif %}"
    "{%- set messages = messages[1:] %}"
    "{%- else %}"
    "{%- set system_message = 'You are a helpful language and vision assistant. You are able to understand the visual content that the user provides, and assist the user with a variety of tasks using natural language.' %}"
    "{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}{{- system_message }}{{- '<|eot_id|>' }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{%- for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<|image|>' }}{%- endfor %}"
    "{%- for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<|video|>' }}{%- endfor %}"
    "{%- for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{- content['text'] | trim }}{%- endfor %}"
    "{{'<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)

SPECIAL_TOKENS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|image|>", "<|video|>")


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random PerceptionLM and its processor (CPU, eval mode); needs ``timm``.

    >>> model, processor = build()
    >>> type(model).__name__, type(processor).__name__, processor.video_token
    ('PerceptionLMForConditionalGeneration', 'PerceptionLMProcessor', '<|video|>')
    """
    import torch
    from tokenizers import processors
    from transformers import (
        PerceptionLMConfig,
        PerceptionLMForConditionalGeneration,
        PerceptionLMImageProcessor,
        PerceptionLMProcessor,
        PerceptionLMVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(
        SPECIAL_TOKENS,
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        pad="<|end_of_text|>",
        chat_template=CHAT_TEMPLATE,
        image_token="<|image|>",
        video_token="<|video|>",
    )
    bos = tokenizer.bos_token
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B:1", special_tokens=[(bos, tokenizer.bos_token_id)]
    )
    patch, pooling = 14, 2
    grid = frame_size // patch
    vision_width = 2 * hidden_size
    config = PerceptionLMConfig(
        vision_config={
            "model_type": "timm_wrapper",
            "architecture": "vit_pe_core_large_patch14_336",
            "model_args": {
                "embed_dim": vision_width,
                "depth": 2,
                "num_heads": 2,
                "img_size": [frame_size, frame_size],
                "ref_feat_shape": [grid, grid],
                "global_pool": "",
                "use_post_transformer_norm": False,
                "init_values": 0.1,
            },
            "do_pooling": False,
            "num_labels": 0,
        },
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 8192,
            "rms_norm_eps": 1e-5,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_use_cls_token=True,
        projector_pooling_ratio=pooling,
        image_token_id=tokenizer.convert_tokens_to_ids("<|image|>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<|video|>"),
    )
    torch.manual_seed(seed)
    model = PerceptionLMForConditionalGeneration(config).eval()
    size = {"height": frame_size, "width": frame_size}
    processor = PerceptionLMProcessor(
        video_processor=PerceptionLMVideoProcessor(size=size),
        image_processor=PerceptionLMImageProcessor(tile_size=frame_size, max_num_tiles=4, vision_input_type="thumb+tile", size=size),
        tokenizer=tokenizer,
        patch_size=patch,
        pooling_ratio=pooling,
        chat_template=CHAT_TEMPLATE,
    )
    return model, processor
