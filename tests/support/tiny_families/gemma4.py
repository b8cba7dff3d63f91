"""Tiny Gemma 4 (``Gemma4ForConditionalGeneration``), built offline.

Real: the model class and its config layout as ``google/gemma-4-E4B-it``: a text model alternating
sliding-window and full attention (``sliding_window=8`` tokens here, so the video prefix is always longer
than the window; the last layer is full attention, with its own wider head and proportional partial
RoPE), per-layer input embeddings (PLE), final logit soft-capping; the Gemma 4 vision tower (16-px
patches, 2D RoPE, 3x3 pooling into soft tokens); ``Gemma4Processor`` from ``Gemma4ImageProcessor``,
``Gemma4VideoProcessor`` and ``Gemma4AudioFeatureExtractor`` (the processor requires a feature
extractor, even though the model here has no audio tower: ``audio_config=None``, which the config
allows); Gemma 4's special tokens (``<bos>``, ``<|turn>``/``<turn|>``, ``<|video|>``, ``<|image>``/``<image|>``,
``<|audio>``/``<audio|>``, ...) and the hub chat template itself (``trl``'s ``gemma4_v5.jinja``, the current
``google/gemma-4-E2B-it`` revision: ``<bos><|turn>user\\n<|video|>text<turn|>\\n<|turn>model\\n``).
Tiny: byte-level tokenizer, 16-wide text model, 32-wide 2-layer ViT (16-px patches, 3x3 pooling).

NOT tiny: the visual token count. Gemma 4's image and video processors accept only
``max_soft_tokens`` in (70, 140, 280, 560, 1120) (checked again at call time), and resize every frame,
keeping its aspect ratio, to fill that budget: a 48x64 frame becomes 336x432 pixels, 567 patches,
63 soft tokens. So 4 frames give ~250 video tokens and 8 frames ~500, whatever ``frame_size`` says
(``frame_size`` is accepted for a uniform signature and otherwise unused). The model stays small and
a forward on 8 frames stays well under a second on one CPU thread.

What differs about the family:
- frames as images with timestamps: the processor replaces ``<|video|>`` with, per frame,
  ``mm:ss <|image>`` + ``<|video|>``*n + ``<image|>``, frames joined by spaces. Bare frames have no fps:
  the processor warns and assumes 24 fps (all of 4-8 frames then read ``00:00``); pass
  ``video_metadata=[{"fps": ..., "total_num_frames": N, "frames_indices": [...]}]`` for true times;
- the processor returns ``mm_token_type_ids`` (and ``pixel_values_videos`` + ``video_position_ids``);
- cache cannot be cropped: the sliding-window layers keep only the last ``sliding_window`` positions
  (``DynamicCache`` of a ``DynamicSlidingWindowLayer`` then a ``DynamicLayer``); once the prefix is longer
  than the window ``cache.crop(n)`` raises "RuntimeError: `crop` was called, but the current layer does
  not track past states, and the sliding window size was already reached. Call
  `activate_past_recording` ...", so a shared video prefix must be deep-copied per continuation (or
  recording activated first), or recomputed;
- the hub tokenizer pads LEFT (``padding_side: "left"`` in gemma-4's tokenizer_config); this tiny one pads
  right, as the other tiny families, so that the adapter's own padding choice is exercised;
- no system prompt unless one is given; the chat template drops thinking unless ``enable_thinking=True``.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen2_5_vl import trl_chat_template

GEMMA4_NAMED_TOKENS = {
    "image_token": "<|image|>",
    "boi_token": "<|image>",
    "eoi_token": "<image|>",
    "audio_token": "<|audio|>",
    "boa_token": "<|audio>",
    "eoa_token": "<audio|>",
    "sot_token": "<|turn>",
    "eot_token": "<turn|>",
    "soc_token": "<|channel>",
    "eoc_token": "<channel|>",
    "think_token": "<|think|>",
    "escape_token": '<|"|>',
    "str_token": "<|tool_response>",
    "etr_token": "<tool_response|>",
    "stc_token": "<|tool_call>",
    "etc_token": "<tool_call|>",
    "std_token": "<|tool>",
    "etd_token": "<tool|>",
}
GEMMA4_SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<|video|>"]


def gemma4_media_ids(tokenizer: Any) -> dict[str, int]:
    """The config's image, video and audio placeholder and marker ids (Gemma 4 and Gemma 4 unified)."""
    tid = tokenizer.convert_tokens_to_ids
    return {
        "boi_token_id": tid("<|image>"),
        "eoi_token_id": tid("<image|>"),
        "image_token_id": tid("<|image|>"),
        "video_token_id": tid("<|video|>"),
        "boa_token_id": tid("<|audio>"),
        "eoa_token_index": tid("<audio|>"),
        "audio_token_id": tid("<|audio|>"),
    }


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 48, sliding_window: int = 8) -> tuple[Any, Any]:
    """A random Gemma 4 (sliding + full attention, no audio tower) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layer_types, model.config.text_config.sliding_window, model.config.audio_config
    (['sliding_attention', 'full_attention'], 8, None)
    """
    import torch
    from transformers import (
        Gemma4AudioFeatureExtractor,
        Gemma4Config,
        Gemma4ForConditionalGeneration,
        Gemma4ImageProcessor,
        Gemma4Processor,
        Gemma4VideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    template = trl_chat_template("gemma4_v5")
    tokenizer = byte_level_tokenizer(GEMMA4_SPECIAL_TOKENS, eos="<eos>", pad="<pad>", bos="<bos>", unk="<unk>",
                                     chat_template=template, **GEMMA4_NAMED_TOKENS)
    tokenizer.add_special_tokens({"mask_token": "<mask>"})
    tid = tokenizer.convert_tokens_to_ids
    eos = [tid("<eos>"), tid("<turn|>")]  # the hub generation config stops on both
    heads = 2
    layer_types = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(num_layers)]
    layer_types[-1] = "full_attention"
    vision_dim = 2 * hidden_size
    patch, pool = 16, 3
    max_soft_tokens = 70  # the smallest the processors accept (see the module docstring)
    config = Gemma4Config(
        text_config={
            "vocab_size": len(tokenizer),
            "vocab_size_per_layer_input": len(tokenizer),
            "hidden_size": hidden_size,
            "hidden_size_per_layer_input": 4,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "layer_types": layer_types,
            "sliding_window": sliding_window,
            "num_attention_heads": heads,
            "num_key_value_heads": 1,
            "head_dim": hidden_size // heads,
            "global_head_dim": hidden_size,  # full-attention layers' head (real: 512 vs 256)
            "max_position_embeddings": 4096,
            "final_logit_softcapping": 30.0,
            "pad_token_id": tid("<pad>"),
            "eos_token_id": eos,
            "bos_token_id": tid("<bos>"),
        },
        vision_config={
            "hidden_size": vision_dim,
            "intermediate_size": 2 * vision_dim,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": vision_dim // 2,
            "patch_size": patch,
            "pooling_kernel_size": pool,
            "position_embedding_size": 64,
        },
        audio_config=None,
        **gemma4_media_ids(tokenizer),
    )
    torch.manual_seed(seed)
    model = Gemma4ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tid("<pad>")
    processor = Gemma4Processor(
        feature_extractor=Gemma4AudioFeatureExtractor(),
        image_processor=Gemma4ImageProcessor(patch_size=patch, pooling_kernel_size=pool, max_soft_tokens=max_soft_tokens),
        video_processor=Gemma4VideoProcessor(patch_size=patch, pooling_kernel_size=pool, max_soft_tokens=max_soft_tokens, do_sample_frames=False),
        tokenizer=tokenizer,
        chat_template=template,
        image_seq_length=max_soft_tokens,
    )
    return model, processor
