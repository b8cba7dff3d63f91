"""Tiny random video LMMs of every family the ``hf:`` adapter and ``PanoDPOTrainer`` support.

One module per family, each with ``build(hidden_size=16, num_layers=2, seed=0) -> (model, processor)``:
a random model of the family's own transformers class (CPU, eval mode) and its own processor class,
with a tokenizer built in code and a chat template laid out like the hub checkpoint's (where the
video placeholder goes, the role markers, the generation prompt). Nothing is downloaded. The test
matrix (``tests/temrobbench/evaluation/models/test_model_matrix.py``) runs the same invariants over every entry of
:data:`FAMILIES`, and the README's model table is this list.

>>> model, processor = build_tiny("qwen2_vl")
>>> type(model).__name__, FAMILIES["qwen2_vl"].hub_example
('Qwen2VLForConditionalGeneration', 'Qwen/Qwen2-VL-7B-Instruct')
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
    #: Why PanoDPO cannot train this family yet ("" when it can); evaluation works regardless.
    panodpo_blocker: str = ""


FAMILIES: dict[str, Family] = {
    f.module: f
    for f in (
        Family("qwen2_vl", "Qwen2-VL", "Qwen2VLForConditionalGeneration", "Qwen/Qwen2-VL-7B-Instruct",
               notes="frames merged 2 at a time; M-RoPE (`mm_token_type_ids`); projector (`merger`) inside the vision tower"),
        Family("qwen2_5_vl", "Qwen2.5-VL", "Qwen2_5_VLForConditionalGeneration", "Qwen/Qwen2.5-VL-7B-Instruct",
               notes="tokenizer pads right (batched generation needs left); default system prompt in the template"),
        Family("qwen3_vl", "Qwen3-VL", "Qwen3VLForConditionalGeneration", "Qwen/Qwen3-VL-8B-Instruct",
               notes="timestamps in the prompt (`<t seconds>` per 2 frames, from the source fps); DeepStack mergers trained as projector"),
        Family("qwen3_vl_moe", "Qwen3-VL-MoE", "Qwen3VLMoeForConditionalGeneration", "Qwen/Qwen3-VL-30B-A3B-Instruct",
               notes="fused expert weights get LoRA through PEFT `target_parameters` (LoRA dropout 0)"),
        Family("qwen3_5", "Qwen3.5", "Qwen3_5ForConditionalGeneration", "Qwen/Qwen3.5-9B",
               notes="linear-attention layers: the prefix cache is copied per query, not cropped; thinking template (`enable_thinking=False` by default)"),
        Family("llava_onevision", "LLaVA-OneVision", "LlavaOnevisionForConditionalGeneration", "llava-hf/llava-onevision-qwen2-7b-ov-hf",
               notes="SigLIP tower, `multi_modal_projector`"),
        Family("llava_next_video", "LLaVA-NeXT-Video", "LlavaNextVideoForConditionalGeneration", "llava-hf/LLaVA-NeXT-Video-7B-hf",
               notes="Llama-2 SentencePiece tokenizer: query ids cut from the full prompt, never tokenized alone"),
        Family("video_llava", "Video-LLaVA", "VideoLlavaForConditionalGeneration", "LanguageBind/Video-LLaVA-7B-hf",
               notes="separate `video_tower` and `image_tower`, both frozen; Llama-2 tokenizer"),
        Family("smolvlm", "SmolVLM2", "SmolVLMForConditionalGeneration", "HuggingFaceTB/SmolVLM2-2.2B-Instruct", requires=("num2words",),
               notes="frames as images in the text, with timestamps; processor needs `num2words`"),
        Family("internvl", "InternVL (HF-native)", "InternVLForConditionalGeneration", "OpenGVLab/InternVL3-8B-hf",
               notes="frames as images (`Frame1: <img>...</img>`), pixel-shuffle MLP projector"),
        Family("glm4v", "GLM-4.1V", "Glm4vForConditionalGeneration", "zai-org/GLM-4.1V-9B-Thinking",
               notes="frames share the image token, told apart by `mm_token_type_ids`; `downsample` + `merger` inside the tower are the projector"),
        Family("video_llama_3", "VideoLLaMA3", "VideoLlama3ForConditionalGeneration", "lkhl/VideoLLaMA3-7B-Image-hf",
               notes="`Time t s:` per frame; token compression makes the prompt length depend on frame content"),
        Family("gemma4", "Gemma 4", "Gemma4ForConditionalGeneration", "google/gemma-4-E4B-it",
               notes="sliding-window layers overflowed by the video prefix: cache copied per query; `embed_vision` projector; `mm:ss` timestamps"),
        Family("perception_lm", "PerceptionLM", "PerceptionLMForConditionalGeneration", "facebook/Perception-LM-8B", requires=("timm",),
               notes="timm vision tower (needs `timm`)"),
        Family("glm46v", "GLM-4.6V", "Glm46VForConditionalGeneration", "zai-org/GLM-4.6V-Flash",
               notes="as GLM-4.1V, `{t:.1f} seconds` after each pair of frames; sub-models built with `AutoModel`"),
        Family("molmo2", "Molmo2", "Molmo2ForConditionalGeneration", "allenai/Molmo2-8B",
               notes="`t.t <frame_start>...<frame_end>` per frame in the text; attention-pooling adapter; processor prepends BOS; no system role"),
        Family("ernie4_5_vl_moe", "ERNIE-4.5-VL", "Ernie4_5_VLMoeForConditionalGeneration", "baidu/ERNIE-4.5-VL-28B-A3B-PT",
               notes="`moe_mm_token_type_ids` route tokens to text or vision experts; no timestamps (the real processor draws them with a downloaded font)"),
        Family("glm4v_moe", "GLM-4.5V", "Glm4vMoeForConditionalGeneration", "zai-org/GLM-4.5V",
               notes="as GLM-4.1V with an MoE text model",
               panodpo_blocker="PEFT 0.21's v4-to-v5 MoE target conversion moves LoRA off the dense and shared-expert MLPs (gate/up/down_proj)"),
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
