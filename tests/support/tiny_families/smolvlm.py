"""Tiny SmolVLM2 (SigLIP-like vision tower, pixel-shuffle connector, Llama text model).

What is real: ``SmolVLMForConditionalGeneration`` from a ``SmolVLMConfig`` (``SmolVLMVisionConfig``
tower, pixel shuffle by ``scale_factor`` then a linear projector, a Llama text model);
``SmolVLMProcessor`` from ``SmolVLMImageProcessor`` and ``SmolVLMVideoProcessor``; a byte-level
BPE tokenizer (SmolLM2's is GPT-2-style byte-level) with SmolVLM2's special tokens
(``<|im_start|>`` BOS, ``<end_of_utterance>`` EOS, ``<|im_end|>`` pad, ``<|endoftext|>`` unk,
``<fake_token_around_image>``, ``<global-img>``, ``<image>``, ``<video>``, the
``<row_i_col_j>`` tile markers); the chat layout of ``HuggingFaceTB/SmolVLM2-2.2B-Instruct``::

    <|im_start|>System: {system}<end_of_utterance>\\nUser: <video>{text}<end_of_utterance>\\nAssistant:

What differs: widths (text 16, vision 32 instead of 2048 / 1152), depth, vocabulary, frame size
(``frame_size`` 56 px, 4x4 patches shuffled by 2 into 4 tokens per frame; the hub resizes frames
to 384 px, 81 tokens per frame with ``scale_factor`` 3).

Frames-as-images (differs from every other family): ``SmolVLMProcessor`` renders the video chat
template itself (``DEFAULT_CHAT_TEMPLATE`` in processing_smolvlm.py, used by
``apply_chat_template`` whenever a message holds a video and no template is passed; it is also
the template set here, so both agree), and at ``processor(...)`` time it replaces the one
``<video>`` placeholder in the text by a per-frame block::

    You are provided the following series of {N in words} frames from a {H:MM:SS} [H:MM:SS] video.\\n
    \\nFrame from MM:SS:<fake_token_around_image><global-img><image>*k<fake_token_around_image>   (once per frame)
    \\n\\n

So the prompt text holds no ``<video>`` token after processing, the visual tokens are ``<image>``
tokens, and the frames come back as ``pixel_values`` (batch, frames, 3, H, W) with a
``pixel_attention_mask``, not ``pixel_values_videos``. Pre-sampled frames carry no timestamps:
``processor(text=..., videos=[frames], do_sample_frames=False)`` works but logs a warning and
assumes 24 fps (every frame then reads ``00:00``, duration ``0:00:00``); pass
``video_metadata=[{"fps": 1.0, "total_num_frames": N, "frames_indices": list(range(N))}]`` to the
processor call for real timestamps (``Frame from 00:01:`` ...). The frame block also depends on the
frame count (the intro names it in words: "four frames").
"""

from __future__ import annotations

from typing import Any

# SmolVLM2's video chat layout (transformers' DEFAULT_CHAT_TEMPLATE for SmolVLM, which the
# processor itself uses for any conversation that holds a video).
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'] is string %}{{': ' + message['content']}}{% else %}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% elif line['type'] == 'video' %}{{ '<video>' }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<end_of_utterance>", "<fake_token_around_image>", "<global-img>", "<image>", "<video>")


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random SmolVLM2 and its processor (CPU, eval mode).

    >>> model, processor = build()
    >>> type(model).__name__, type(processor).__name__, processor.image_seq_len
    ('SmolVLMForConditionalGeneration', 'SmolVLMProcessor', 4)
    """
    import torch
    from transformers import (
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    tiles = [f"<row_{r}_col_{c}>" for r in range(1, 5) for c in range(1, 5)]
    tokenizer = byte_level_tokenizer(
        list(SPECIAL_TOKENS) + tiles,
        bos="<|im_start|>",
        eos="<end_of_utterance>",
        pad="<|im_end|>",
        unk="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        image_token="<image>",
        video_token="<video>",
        fake_image_token="<fake_token_around_image>",
        global_image_token="<global-img>",
        end_of_utterance_token="<end_of_utterance>",
    )
    patch, scale = 14, 2
    image_seq_len = (frame_size // patch) ** 2 // scale**2
    vision_width = 2 * hidden_size
    config = SmolVLMConfig(
        vision_config={
            "hidden_size": vision_width,
            "intermediate_size": 2 * vision_width,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": frame_size,
            "patch_size": patch,
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
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=scale,
    )
    torch.manual_seed(seed)
    model = SmolVLMForConditionalGeneration(config).eval()
    max_size = {"longest_edge": frame_size}
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(size={"longest_edge": 4 * frame_size}, max_image_size=max_size, do_image_splitting=True),
        tokenizer=tokenizer,
        video_processor=SmolVLMVideoProcessor(size=max_size, max_image_size=max_size),
        image_seq_len=image_seq_len,
        chat_template=CHAT_TEMPLATE,
    )
    return model, processor
