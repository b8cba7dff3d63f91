"""Tiny VideoLLaMA3 (``VideoLlama3ForConditionalGeneration``), built offline.

Real: the model class (SigLIP-style any-resolution ViT with 2D RoPE, MLP projector, Qwen2 text model),
``VideoLlama3Processor`` from ``VideoLlama3ImageProcessor`` and ``VideoLlama3VideoProcessor`` (with its
default token compression of near-duplicate patches between consecutive frames), the Qwen2.5 special
tokens the HF-native checkpoints use (``<|image_pad|>``/``<|video_pad|>``, ``<|im_start|>``/``<|im_end|>``),
and a chat template laid out as DAMO-NLP-SG/VideoLLaMA3-7B's: ChatML turns, the video placeholder
followed by ``\\n`` where the content item is, and DAMO's default system prompt only when
``add_system_prompt=True`` is passed (as that template does). The exact template of the
``lkhl/VideoLLaMA3-*-hf`` conversions could not be found offline; this one emits one ``<|video_pad|>``
per video, which the processor expands. Tiny: byte-level tokenizer, 16-wide text model, 32-wide 2-layer
ViT, frames resized to 56x56 (4 visual tokens per frame).

What differs about the family:
- frames are merged one at a time (temporal patch 1): N frames -> N groups of tokens;
- timestamps in the prompt: the processor writes ``Time 0.0s:<|video_pad|>*n,Time 1.0s:...`` (one
  group per frame, comma separated). Bare frames have no fps: the processor warns and assumes 1 fps;
  pass ``video_metadata=[{"fps": ..., "total_num_frames": N, "frames_indices": [...]}]`` for true times;
- token compression: the number of video tokens per frame depends on the pixels (patches unchanged
  from the previous frame are dropped; ``video_compression_mask``), so two frame orders of the same
  video can give different prompt lengths;
- the processor returns ``video_merge_sizes`` and ``video_compression_mask``, which ``model(**inputs)``
  needs; no ``mm_token_type_ids``; plain 1-D positions (no M-RoPE); plain ``DynamicCache``;
- the video resize budget is per video (``size["longest_edge"]`` is divided by the frame count): here
  at most ``frame_size``^2 per frame up to 32 frames.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen2_5_vl import QWEN_SPECIAL_TOKENS

VIDEOLLAMA3_SYSTEM_PROMPT = (
    "You are VideoLLaMA3 created by Alibaba DAMO Academy, a helpful assistant to help people understand images and videos."
)

VIDEOLLAMA3_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if add_system_prompt and loop.first and message['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\n" + VIDEOLLAMA3_SYSTEM_PROMPT + "<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] + '<|im_end|>\\n' -}}"
    "{%- else -%}"
    "{%- for content in message['content'] -%}"
    "{%- if content is string -%}{{- content -}}"
    "{%- elif content['type'] == 'text' or 'text' in content -%}{{- content['text'] -}}"
    "{%- elif content['type'] == 'image' or 'image' in content -%}{{- '<|image_pad|>\\n' -}}"
    "{%- elif content['type'] == 'video' or 'video' in content -%}{{- '<|video_pad|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random VideoLLaMA3 and its processor (frames resized to about ``frame_size``, a multiple of 28).

    >>> model, processor = build()
    >>> type(processor).__name__, model.config.vision_config.hidden_size, model.config.text_config.hidden_size
    ('VideoLlama3Processor', 32, 16)
    """
    import torch
    from transformers import (
        VideoLlama3Config,
        VideoLlama3ForConditionalGeneration,
        VideoLlama3ImageProcessor,
        VideoLlama3Processor,
        VideoLlama3VideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer(QWEN_SPECIAL_TOKENS, eos="<|im_end|>", pad="<|endoftext|>", chat_template=VIDEOLLAMA3_CHAT_TEMPLATE)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    vision_dim = 2 * hidden_size
    config = VideoLlama3Config(
        text_config={
            "model_type": "qwen2",
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": False,
        },
        vision_config={
            "hidden_size": vision_dim,
            "intermediate_size": 2 * vision_dim,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "patch_size": 14,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
    )
    torch.manual_seed(seed)
    model = VideoLlama3ForConditionalGeneration(config).eval()
    pixels = frame_size * frame_size
    processor = VideoLlama3Processor(
        image_processor=VideoLlama3ImageProcessor(size={"shortest_edge": pixels, "longest_edge": pixels}),
        video_processor=VideoLlama3VideoProcessor(size={"shortest_edge": pixels, "longest_edge": 32 * pixels}, do_sample_frames=False),
        tokenizer=tokenizer,
        chat_template=VIDEOLLAMA3_CHAT_TEMPLATE,
    )
    return model, processor
