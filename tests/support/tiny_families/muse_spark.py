"""Tiny Muse Spark (``MuseSparkForConditionalGeneration``), built offline.

Real: the model class and its config layout, as ``meta-models/Muse-Spark-Open-816B-A42B``: Muse
Glimmer's vision tower and projector (``vision_adapter`` + ``vision_projection``; see
``muse_glimmer.py``) and attention (sliding-window and NoPE full-attention layers, QK-norm, sigmoid
output gate, tanh soft-capped logits), with an MoE text model: each sparse layer pools the hidden
state down (``pre_expert_proj``) to ``moe_hidden_size``, routes it (sigmoid router with a score
correction bias) to fused experts (``experts.gate_up_proj``/``experts.down_proj`` 3D parameters with a
post-expert norm) and unpools it (``post_expert_proj``); learned residual gates around each sub-layer;
a raw-waveform convolutional audio tower (``audio_tower``, always built by the model); 1D positions;
``MuseSparkProcessor`` with Muse Glimmer's image and video processors (``MuseGlimmerImageProcessor``,
``MuseGlimmerVideoProcessor``: transformers maps no processors of its own to ``muse_spark``) and
``MuseSparkFeatureExtractor``; Muse's special tokens plus the audio ones (``<|audio|>``,
``<|soft_audio_start|>``, ``<|soft_audio_end|>``). The chat template is Muse Glimmer's hub template
(the ``trl`` wheel's ``muse_glimmer.jinja``; the Muse Spark hub template is not available offline).

Tiny: byte-level tokenizer; 16-wide text model of 2 layers (layer 0 dense and sliding with an
8-token window, which the video prefix overflows; layer 1 sparse (4 experts of width 8, top-2) and
full attention, NoPE), 32-wide 2-block ViT, a 2-stage audio tower 8 wide (4 samples per token),
at most 4 visual tokens per pair of frames.

What differs about the family: as Muse Glimmer, plus fused expert weights (LoRA through PEFT
``target_parameters``) behind a down/up projection, and an audio tower that stays unused and frozen.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.muse_glimmer import muse_configs, muse_processor, muse_tokenizer

MUSE_SPARK_AUDIO_TOKENS = ["<|audio|>", "<|soft_audio_start|>", "<|soft_audio_end|>"]


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, sliding_window: int = 8, max_frame_tokens: int = 4) -> tuple[Any, Any]:
    """A random Muse Spark (dense + MoE layers, tiny audio tower) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.mlp_layer_types, model.config.text_config.num_local_experts, type(processor.feature_extractor).__name__
    (['dense', 'sparse'], 4, 'MuseSparkFeatureExtractor')
    """
    import math

    import torch
    from transformers import MuseSparkConfig, MuseSparkFeatureExtractor, MuseSparkForConditionalGeneration, MuseSparkProcessor

    tokenizer = muse_tokenizer(MUSE_SPARK_AUDIO_TOKENS)
    text, vision, top = muse_configs(tokenizer, hidden_size, num_layers, sliding_window, max_frame_tokens)
    mlp_layer_types = ["dense" if i == 0 and num_layers > 1 else "sparse" for i in range(num_layers)]
    text.update(moe_hidden_size=hidden_size // 2, moe_intermediate_size=hidden_size // 2, num_local_experts=4,
                num_experts_per_tok=2, mlp_layer_types=mlp_layer_types)
    patch_sizes = (2, 2)
    audio = {"patch_sizes": patch_sizes, "hidden_sizes": (8, 8), "depths": (1, 1), "num_hidden_layers": 2,
             "conv_kernel_size": 3, "out_hidden_size": hidden_size}
    config = MuseSparkConfig(text_config=text, vision_config=vision, audio_config=audio,
                             audio_token_id=tokenizer.convert_tokens_to_ids("<|audio|>"), **top)
    torch.manual_seed(seed)
    model = MuseSparkForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = text["eos_token_id"]
    model.generation_config.pad_token_id = text["pad_token_id"]
    feature_extractor = MuseSparkFeatureExtractor(samples_per_token=math.prod(patch_sizes))
    return model, muse_processor(MuseSparkProcessor, tokenizer, max_frame_tokens, feature_extractor=feature_extractor)
