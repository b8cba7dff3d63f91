"""Tiny Gemma 4 unified (``Gemma4UnifiedForConditionalGeneration``), built offline.

Real: the model class and its config layout as ``google/gemma-4-12B-it`` (the checkpoint the
transformers docstrings name): the Gemma 4 text model (sliding-window and full attention, the last
layer full, its own wider head; final logit soft-capping; no per-layer input embeddings, no MoE) with
``use_bidirectional_attention="vision"`` (the config's default: the soft tokens of one frame attend
to each other both ways, text stays causal), and **no vision tower**: ``embed_vision`` is an
encoder-free embedder (48x48 pixel patches -> LayerNorm -> Linear -> LayerNorm, + a factorized 2D
position table, LayerNorm, then the ``multimodal_embedder`` RMSNorm -> Linear into the text width);
audio is raw 640-sample waveform frames through ``embed_audio`` (RMSNorm -> Linear), also no tower.
``Gemma4UnifiedProcessor`` from ``Gemma4UnifiedImageProcessor``, ``Gemma4UnifiedVideoProcessor`` and
``Gemma4UnifiedAudioFeatureExtractor``; Gemma 4's special tokens and chat template (``trl``'s
``gemma4_v5.jinja``: ``<bos><|turn>user\\n<|video|>text<turn|>\\n<|turn>model\\n``), as Gemma 4's.
Tiny: byte-level tokenizer, 16-wide 2-layer text model, a 32-wide patch embedding
(``mm_embed_dim``; real 3840 = the text width) with a 64-entry position table (real 1120).

NOT tiny: the visual token count. As Gemma 4's, the processors accept only ``max_soft_tokens`` in
(70, 140, 280, 560, 1120) and resize each frame to fill it: a 48x64 frame becomes 70 soft tokens,
so 4 frames give ~280 video tokens (``frame_size`` is accepted for a uniform signature, unused).

What differs about the family:
- encoder-free: nothing is built from ``vision_config`` but ``embed_vision``, a module without a
  ``config``. PanoDPO's parts (:mod:`panodpo.model_parts`): the projector is
  ``embed_vision.multimodal_embedder`` (what Gemma 4's ``embed_vision`` is), the patch embedding before
  it (``patch_*``, ``pos_*``) stands in for the vision encoder and is frozen; ``embed_audio`` belongs to
  the audio path and is left alone (TemRobBench has no audio);
- the processor returns ``num_frames_per_video`` (frames of all videos concatenated on one axis) with
  ``pixel_values_videos`` (already patchified: frames x 70 x 6912), ``video_position_ids`` and
  ``mm_token_type_ids`` (which the bidirectional vision mask reads);
- frames as images with ``mm:ss`` timestamps (as Gemma 4: 24 fps assumed without ``video_metadata``);
- sliding-window layers overflowed by the video prefix: the cache is copied per query, as Gemma 4's.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.gemma4 import GEMMA4_NAMED_TOKENS, GEMMA4_SPECIAL_TOKENS, gemma4_media_ids
from tests.support.tiny_families.qwen2_5_vl import trl_chat_template


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 48, sliding_window: int = 8) -> tuple[Any, Any]:
    """A random Gemma 4 unified (encoder-free vision and audio embedders) and its processor.

    >>> model, processor = build()
    >>> model.model.embed_vision.multimodal_embedder.embedding_projection.out_features, model.config.text_config.use_bidirectional_attention
    (16, 'vision')
    """
    import torch
    from transformers import (
        Gemma4UnifiedAudioFeatureExtractor,
        Gemma4UnifiedConfig,
        Gemma4UnifiedForConditionalGeneration,
        Gemma4UnifiedImageProcessor,
        Gemma4UnifiedProcessor,
        Gemma4UnifiedVideoProcessor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    template = trl_chat_template("gemma4_v5")
    tokenizer = byte_level_tokenizer(GEMMA4_SPECIAL_TOKENS, eos="<eos>", pad="<pad>", bos="<bos>", unk="<unk>",
                                     chat_template=template, **GEMMA4_NAMED_TOKENS)
    tokenizer.add_special_tokens({"mask_token": "<mask>"})
    tid = tokenizer.convert_tokens_to_ids
    eos = [tid("<eos>"), tid("<turn|>")]
    heads = 2
    layer_types = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(num_layers)]
    layer_types[-1] = "full_attention"
    vision_dim = 2 * hidden_size
    patch, pool = 16, 3
    max_soft_tokens = 70  # the smallest the processors accept
    config = Gemma4UnifiedConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": num_layers,
            "layer_types": layer_types,
            "sliding_window": sliding_window,
            "num_attention_heads": heads,
            "num_key_value_heads": 1,
            "head_dim": hidden_size // heads,
            "global_head_dim": hidden_size,
            "max_position_embeddings": 4096,
            "final_logit_softcapping": 30.0,
            "use_bidirectional_attention": "vision",
            "pad_token_id": tid("<pad>"),
            "eos_token_id": eos,
            "bos_token_id": tid("<bos>"),
        },
        # output_proj_dims is the multimodal embedder's input width (= mm_embed_dim on the hub).
        vision_config={"patch_size": patch, "pooling_kernel_size": pool, "mm_embed_dim": vision_dim,
                       "output_proj_dims": vision_dim, "mm_posemb_size": 64},
        audio_config={"audio_embed_dim": 640},
        **gemma4_media_ids(tokenizer),
    )
    torch.manual_seed(seed)
    model = Gemma4UnifiedForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tid("<pad>")
    processor = Gemma4UnifiedProcessor(
        feature_extractor=Gemma4UnifiedAudioFeatureExtractor(),
        image_processor=Gemma4UnifiedImageProcessor(patch_size=patch, pooling_kernel_size=pool, max_soft_tokens=max_soft_tokens),
        video_processor=Gemma4UnifiedVideoProcessor(patch_size=patch, pooling_kernel_size=pool, max_soft_tokens=max_soft_tokens,
                                                    do_sample_frames=False),
        tokenizer=tokenizer,
        chat_template=template,
        image_seq_length=max_soft_tokens,
    )
    return model, processor
