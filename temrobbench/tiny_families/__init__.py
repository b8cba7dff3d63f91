"""Tiny random video LMMs of every family the ``hf:`` adapter and ``PanoDPOTrainer`` support.

One module per family, each with ``build(hidden_size=16, num_layers=2, seed=0) -> (model, processor)``:
a random model of the family's own transformers class (CPU, eval mode) and its own processor class,
with a tokenizer built in code and a chat template laid out like the hub checkpoint's (where the
video placeholder goes, the role markers, the generation prompt). Nothing is downloaded. The test
matrix (``tests/test_model_matrix.py``) runs the same invariants over every entry of
:data:`FAMILIES`, and the README's model table is this list.

>>> sorted(FAMILIES)[:3]
['gemma4', 'glm4v', 'internvl']
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Family:
    """A model family: its module here, its transformers class, and what differs about it."""

    module: str
    display_name: str
    model_class: str
    hub_example: str
    notes: str = ""
    requires: tuple[str, ...] = ()  # extra Python packages its processor needs


FAMILIES: dict[str, Family] = {
    f.module: f
    for f in (
        Family("qwen2_vl", "Qwen2-VL", "Qwen2VLForConditionalGeneration", "Qwen/Qwen2-VL-7B-Instruct"),
        Family("qwen2_5_vl", "Qwen2.5-VL", "Qwen2_5_VLForConditionalGeneration", "Qwen/Qwen2.5-VL-7B-Instruct"),
        Family("qwen3_vl", "Qwen3-VL", "Qwen3VLForConditionalGeneration", "Qwen/Qwen3-VL-8B-Instruct"),
        Family("qwen3_vl_moe", "Qwen3-VL-MoE", "Qwen3VLMoeForConditionalGeneration", "Qwen/Qwen3-VL-30B-A3B-Instruct"),
        Family("qwen3_5", "Qwen3.5", "Qwen3_5ForConditionalGeneration", "Qwen/Qwen3.5-9B"),
        Family("llava_onevision", "LLaVA-OneVision", "LlavaOnevisionForConditionalGeneration", "llava-hf/llava-onevision-qwen2-7b-ov-hf"),
        Family("llava_next_video", "LLaVA-NeXT-Video", "LlavaNextVideoForConditionalGeneration", "llava-hf/LLaVA-NeXT-Video-7B-hf"),
        Family("video_llava", "Video-LLaVA", "VideoLlavaForConditionalGeneration", "LanguageBind/Video-LLaVA-7B-hf"),
        Family("smolvlm", "SmolVLM2", "SmolVLMForConditionalGeneration", "HuggingFaceTB/SmolVLM2-2.2B-Instruct", requires=("num2words",)),
        Family("internvl", "InternVL (HF-native)", "InternVLForConditionalGeneration", "OpenGVLab/InternVL3-8B-hf"),
        Family("glm4v", "GLM-4.1V", "Glm4vForConditionalGeneration", "zai-org/GLM-4.1V-9B-Thinking"),
        Family("video_llama_3", "VideoLLaMA3", "VideoLlama3ForConditionalGeneration", "lkhl/VideoLLaMA3-7B-Image-hf"),
        Family("gemma4", "Gemma 4", "Gemma4ForConditionalGeneration", "google/gemma-4-E4B-it"),
        Family("perception_lm", "PerceptionLM", "PerceptionLMForConditionalGeneration", "facebook/Perception-LM-8B", requires=("timm",)),
    )
}


def build_tiny(family: str, **kwargs: Any) -> tuple[Any, Any]:
    """A tiny random ``(model, processor)`` of ``family`` (a key of :data:`FAMILIES`)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    module = importlib.import_module(f"{__name__}.{family}")
    return module.build(**kwargs)


def save_tiny(family: str, path: Any, **kwargs: Any) -> Any:
    """Write a tiny ``family`` model and processor with ``save_pretrained`` (loads as ``hf:<path>``)."""
    from pathlib import Path

    model, processor = build_tiny(family, **kwargs)
    path = Path(path)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
