"""Tiny LLaVA-OneVision (SigLIP vision tower, Qwen2 text model): the second family of the hf:
adapter's and the trainer's tests (test scaffolding: the shipped tiny model is
:func:`temrobbench.tiny_models.build_tiny_qwen2vl`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temrobbench.tiny_models import build_byte_tokenizer

# LLaVA-OneVision's chat layout (Qwen2 text model): the video placeholder opens the user turn.
LLAVA_ONEVISION_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'video' %}<video>\n"
    "{% elif content['type'] == 'image' %}<image>\n{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_llava_onevision(hidden_size: int = 16, num_layers: int = 2, vision_depth: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random LLaVA-OneVision (SigLIP vision tower, Qwen2 text model) and its processor.

    >>> model, processor = build_tiny_llava_onevision()
    >>> type(model).__name__, processor.video_token
    ('LlavaOnevisionForConditionalGeneration', '<video>')
    """
    import torch
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    tokenizer = build_byte_tokenizer()
    tokenizer.add_tokens(["<image>", "<video>"], special_tokens=True)
    tokenizer.chat_template = LLAVA_ONEVISION_CHAT_TEMPLATE
    config = LlavaOnevisionConfig(
        vision_config={"model_type": "siglip_vision_model", "hidden_size": hidden_size, "intermediate_size": 2 * hidden_size, "num_hidden_layers": vision_depth, "num_attention_heads": 2, "image_size": frame_size, "patch_size": 14},
        text_config={"model_type": "qwen2", "vocab_size": len(tokenizer), "hidden_size": hidden_size, "intermediate_size": 2 * hidden_size, "num_hidden_layers": num_layers, "num_attention_heads": 2, "num_key_value_heads": 2, "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        image_grid_pinpoints=[[frame_size, frame_size]],
        vision_aspect_ratio="anyres_max_1",
    )
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    size = {"height": frame_size, "width": frame_size}
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=size, image_grid_pinpoints=[[frame_size, frame_size]]),
        video_processor=LlavaOnevisionVideoProcessor(size=size),
        tokenizer=tokenizer,
        num_image_tokens=(frame_size // 14) ** 2,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_1",
        chat_template=LLAVA_ONEVISION_CHAT_TEMPLATE,
    )
    return model, processor


def save_tiny_llava_onevision(path: str | Path, **kwargs: Any) -> Path:
    """Write a tiny LLaVA-OneVision with ``save_pretrained`` (loads with ``hf:<path>``)."""
    model, processor = build_tiny_llava_onevision(**kwargs)
    path = Path(path)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path



def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    model, processor = build_tiny_llava_onevision(hidden_size=hidden_size, num_layers=num_layers, seed=seed, frame_size=frame_size)
    processor.tokenizer.padding_side = "right"
    return model, processor
