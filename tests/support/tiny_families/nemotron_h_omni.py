"""Tiny Nemotron 3 Nano Omni (``NemotronH_Omni_Reasoning_V3``), built offline.

Real: the model class and its config layout as ``nvidia/Nemotron-3-Nano-Omni-30B-A3B-Reasoning-BF16``:
a Nemotron-H language model (``NemotronHForCausalLM``: Mamba-2 mixers, attention mixers, MoE and MLP
blocks, each its own "layer"), a RADIO vision tower (CLS token, 16-px patches, a separate video patch
embedding over tubelets of 2 frames), pixel shuffle 2x2 and an RMSNorm -> Linear -> ReLU^2 -> Linear
projector; ``NemotronH_Omni_Reasoning_V3Processor`` with its image and video processors and a
``ParakeetFeatureExtractor`` (required by the processor; the model is built with ``audio_config=None``,
which the config allows); the video written as ``<video>`` and expanded into one ``<img>`` +
``<image>``*n + ``</img>`` chunk per tubelet (the image token: the tokenizer has no video token).
Chat template: ``trl``'s ``nemotron_3_nano.jinja`` (Nemotron 3 Nano's: ``<|im_start|>role\n...<|im_end|>``,
an empty system turn when none is given, ``<|im_start|>assistant\n<think></think>`` with
``enable_thinking=False``) with content parts rendered in place (``<video>`` then the text).
Tiny: byte-level tokenizer; 16-wide text model of ``num_layers`` (mixer, feed-forward) pairs (Mamba-2 + MoE
of 4 experts, then attention + MLP: 4 Nemotron-H layers), 8-state Mamba heads; a 32-wide 1-block RADIO;
frames resized to a 12-patch budget (real 1024).

What differs about the family:
- hybrid recurrent cache (``LinearAttentionLayer`` states): the adapter copies the prefix cache per
  query; PanoDPO's shared prefix could not branch it (moot: training is refused, below);
- the processor takes a video with ONE prompt only ("Videos are only supported with a single prompt"):
  ``hf:`` generation falls back to one query at a time (one logged line); PanoDPO's collator encodes a
  batch of prompts with their videos in one call, so training is refused (``family_support.REFUSED``,
  ``training_only``);
- no ``mm_token_type_ids``; video and image share the image token, told apart by ``pixel_values_videos``.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen2_5_vl import trl_chat_template

NEMOTRON_OMNI_SPECIAL_TOKENS = ["<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<image>", "<video>",
                                "<img>", "</img>", "<so_embedding>", "<so_start>", "<so_end>"]


def omni_chat_template() -> str:
    """Nemotron 3 Nano's template (``trl``'s ``nemotron_3_nano.jinja``) with content parts rendered:
    ``<video>``/``<image>`` where the part is, text parts as they are (the Omni checkpoint's layout)."""
    template = trl_chat_template("nemotron_3_nano")
    system = '{%- set system_message = messages[0]["content"] %}'
    user = "{%- set content = message.content | string %}"
    assert template.count(system) == 1 and template.count(user) == 1, "trl's nemotron_3_nano.jinja changed"
    template = template.replace(system, '{%- set system_message = messages[0]["content"] if messages[0]["content"] is string '
                                        'else messages[0]["content"] | selectattr("type", "equalto", "text") | map(attribute="text") | join("") %}')
    return template.replace(user, (
        "{%- if message.content is string %}{%- set content = message.content %}{%- else %}{%- set content = namespace(text='') %}"
        "{%- for part in message.content %}"
        "{%- if part.type == 'video' %}{%- set content.text = content.text ~ '<video>' %}"
        "{%- elif part.type == 'image' %}{%- set content.text = content.text ~ '<image>' %}"
        "{%- elif part.type == 'text' %}{%- set content.text = content.text ~ part.text %}{%- endif %}"
        "{%- endfor %}{%- set content = content.text %}{%- endif %}"))


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0) -> tuple[Any, Any]:
    """A random Nemotron 3 Nano Omni (Mamba-2 + attention hybrid with MoE, RADIO tower) and its processor.

    >>> model, processor = build()
    >>> model.config.text_config.layers_block_type
    ['linear_attention', 'moe', 'full_attention', 'mlp']
    """
    import torch
    from transformers import (
        NemotronH_Omni_Reasoning_V3,
        NemotronH_Omni_Reasoning_V3_Config,
        NemotronH_Omni_Reasoning_V3ImageProcessor,
        NemotronH_Omni_Reasoning_V3Processor,
        NemotronH_Omni_Reasoning_V3VideoProcessor,
        ParakeetFeatureExtractor,
    )

    from tests.support.tiny_families._tokenizers import byte_level_tokenizer

    template = omni_chat_template()
    tokenizer = byte_level_tokenizer(NEMOTRON_OMNI_SPECIAL_TOKENS, eos="<|im_end|>", pad="<unk>", bos="<s>", unk="<unk>",
                                     chat_template=template, image_token="<image>", video_token="<video>")
    tid = tokenizer.convert_tokens_to_ids
    # Nemotron-H counts each mixer as a layer: num_layers (mixer, feed-forward) pairs, Mamba-2 first.
    pattern = []
    for i in range(num_layers):
        pattern += ["linear_attention" if i % 2 == 0 else "full_attention", "moe" if i % 2 == 0 else "mlp"]
    vision_dim = 2 * hidden_size
    mean, std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    config = NemotronH_Omni_Reasoning_V3_Config(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "layers_block_type": pattern,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": hidden_size // 2,
            "intermediate_size": 2 * hidden_size,
            "ssm_state_size": 8,
            "mamba_num_heads": 4,
            "mamba_head_dim": 8,
            "n_groups": 1,
            "chunk_size": 16,
            "n_routed_experts": 4,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": hidden_size,
            "moe_shared_expert_intermediate_size": hidden_size,
            "max_position_embeddings": 4096,
            "pad_token_id": tid("<unk>"),
            "bos_token_id": tid("<s>"),
            "eos_token_id": tid("<|im_end|>"),
        },
        vision_config={"hidden_size": vision_dim, "num_hidden_layers": 1, "num_attention_heads": 2, "patch_size": 16,
                       "num_cls_tokens": 1, "num_registers": 0, "summary_idxs": [0], "max_img_size": 256, "image_size": 64,
                       "video_temporal_patch_size": 2, "norm_mean": mean, "norm_std": std},
        audio_config=None,
        vision_hidden_size=vision_dim,
        projector_hidden_size=2 * hidden_size,
        video_temporal_patch_size=2,
        image_token_id=tid("<image>"),
        video_token_id=tid("<video>"),
        audio_token_id=tid("<so_embedding>"),
    )
    torch.manual_seed(seed)
    model = NemotronH_Omni_Reasoning_V3(config).eval()
    model.generation_config.eos_token_id = tid("<|im_end|>")
    model.generation_config.pad_token_id = tid("<unk>")
    processor = NemotronH_Omni_Reasoning_V3Processor(
        image_processor=NemotronH_Omni_Reasoning_V3ImageProcessor(min_num_patches=4, max_num_patches=64, image_mean=mean, image_std=std),
        video_processor=NemotronH_Omni_Reasoning_V3VideoProcessor(norm_mean=mean, norm_std=std, video_target_num_patches=12),
        feature_extractor=ParakeetFeatureExtractor(),
        tokenizer=tokenizer,
        chat_template=template,
    )
    return model, processor
