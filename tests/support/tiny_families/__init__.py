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

    @property
    def model_type(self) -> str:
        """The config's ``model_type`` (each module is named after it)."""
        return self.module


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
        # --- group A (new this round) ---
        Family("qwen3_5_moe", "Qwen3.5-MoE", "Qwen3_5MoeForConditionalGeneration", "Qwen/Qwen3.5-35B-A3B",
               notes="as Qwen3.5 (linear attention: prefix cache copied per query, PanoDPO's shared prefix falls back) with fused experts and a shared expert"),
        Family("qwen4_exp", "Qwen4-Exp", "Qwen4ExpForConditionalGeneration", "Qwen/Qwen4-Exp",
               notes="linear attention with PLE n-gram conv states + QSA indexed attention (`DynamicIndexedLayer`): prefix cache copied per query, PanoDPO's shared prefix falls back; hyper-connections; 512 experts"),
        Family("qwen2_5_omni", "Qwen2.5-Omni (thinker)", "Qwen2_5OmniThinkerForConditionalGeneration", "Qwen/Qwen2.5-Omni-7B",
               notes="`hf:` loads the thinker of an omni checkpoint (no talker); audio tower unused and frozen; TMRoPE positions from `video_second_per_grid`; default system prompt"),
        Family("qwen3_omni_moe", "Qwen3-Omni-MoE (thinker)", "Qwen3OmniMoeThinkerForConditionalGeneration", "Qwen/Qwen3-Omni-30B-A3B-Instruct",
               notes="`hf:` loads the thinker (no talker); MoE text model, DeepStack ViT; audio tower unused and frozen; time-aligned M-RoPE"),
        Family("cosmos3_omni", "Cosmos3 (Reasoner)", "Cosmos3OmniForConditionalGeneration", "nvidia/Cosmos3-Nano",
               notes="the Reasoner of a unified checkpoint (generator, sound and action towers dropped at load); Qwen3-VL architecture and processor"),
        Family("dots3_note", "dots3.note", "Dots3NoteForConditionalGeneration", "dots-studio/dots3-note-prev",
               notes="MLA with DSA-indexed + sliding-window layers: prefix cache copied per query, PanoDPO's shared prefix falls back; MoE ViT, one frame per temporal patch; audio tower frozen"),
        # --- group B (new this round) ---
        Family("glm5_next", "GLM-5-Next", "Glm5NextForConditionalGeneration", "zai-org/GLM-5.3-Flash",
               notes="KDA linear-attention + DSA (sparse MLA) layers: the prefix cache is copied per query, the shared prefix falls back to the plain path; as GLM-4.6V otherwise"),
        Family("glmga", "GLM-GA", "Glm46VForConditionalGeneration", "(no checkpoint named in transformers 5.24)",
               notes="its own `glmga` config on GLM-4.6V's model classes and `Glm46VProcessor`; own image/video processors (2 fps, even frame count)"),
        Family("kimi_k25", "Kimi-K2.5", "Kimi_K25ForConditionalGeneration", "moonshotai/Kimi-K2.5",
               notes="DeepSeek-V3 text model (MLA + MoE); 4 frames pooled per chunk, `HH:MM:SS.mmm` before each; thinking switch named `thinking`"),
        Family("lfm3_vl", "LFM3-VL", "Lfm3VlForConditionalGeneration", "LiquidAI/LFM3-VL-2B",
               notes="short-convolution layers (text and vision): the prefix cache is copied per query, the shared prefix falls back to the plain path; `<t seconds>` per 2 frames"),
        Family("exaone4_5", "EXAONE 4.5", "Exaone4_5_ForConditionalGeneration", "LGAI-EXAONE/EXAONE-4.5-33B",
               notes="Qwen2.5-VL-style tower, EXAONE 4 text model: sliding-window layers overflowed by the video prefix (cache copied per query); 1D positions"),
        # --- group C (new this round) ---
        Family("gemma4_unified", "Gemma 4 (unified)", "Gemma4UnifiedForConditionalGeneration", "google/gemma-4-12B-it",
               notes="encoder-free: raw 48-px patches through `embed_vision` (patch embedding frozen, `multimodal_embedder` trained as projector); bidirectional attention within each frame; `num_frames_per_video`"),
        Family("minimax_m3_vl", "MiniMax-M3", "MiniMaxM3SparseForConditionalGeneration", "MiniMaxAI/MiniMax-M3",
               notes="block-sparse attention (lightning indexer picks key blocks by absolute slot): its cache is copied per query; MoE with fused experts"),
        Family("nemotron_h_omni", "Nemotron 3 Nano Omni", "NemotronH_Omni_Reasoning_V3", "nvidia/Nemotron-3-Nano-Omni-30B-A3B-Reasoning-BF16",
               notes="Mamba-2 + attention hybrid: recurrent state copied per query, PanoDPO's shared prefix falls back; frames as `<img>` tubelets of 2 with the image token; RADIO tower"),
        # --- group D (new this round) ---
        Family("minicpmv4_6", "MiniCPM-V 4.6", "MiniCPMV4_6ForConditionalGeneration", "openbmb/MiniCPM-V-4.6",
               notes="frames as `<image>...</image>` images after `<image_id>0</image_id>`, all packed in one NaViT row; Qwen3.5 linear-attention text model (cache copied per query, no shared prefix)"),
        Family("minicpmv4_7", "MiniCPM-V 4.7", "MiniCPMV4_7ForConditionalGeneration", "openbmb/MiniCPM-V-4.7-1B",
               notes="as MiniCPM-V 4.6 without `<image_id>` before a video; canvas M-RoPE from `mm_token_type_ids` and the frame markers"),
        Family("minicpm_ocr", "MiniCPM-OCR", "MiniCPMOcrForConditionalGeneration", "openbmb/MiniCPM-OCR-1.0",
               notes="as MiniCPM-V 4.6 with `4x` downsampling (the tower's window merger skipped: 4x the tokens per frame) and tied embeddings"),
        Family("cosmos3_edge", "Cosmos3 Edge", "Cosmos3EdgeForConditionalGeneration", "nvidia/Cosmos3-Edge",
               notes="`<t.t seconds>` + its own vision block per frame; M-RoPE from `mm_token_type_ids`, which its processor returns only when asked; `projector` outside the tower"),
        # --- group E (new this round) ---
        Family("hy_v4_vl", "HY-4-VL", "HYV4VLForConditionalGeneration", "tencent/Hy4",
               notes="DSA-indexed MLA in every layer (prefix cache copied per query, PanoDPO's shared prefix falls back); iHC; a newline token after each merged row; thinking switch `reasoning_effort`"),
        Family("hyperclovax_vision_v2", "HyperCLOVA X Vision V2", "HyperCLOVAXVisionV2ForConditionalGeneration", "naver-hyperclovax/HyperCLOVAX-SEED-Think-32B",
               notes="stateful processor: the video's duration written into the prompt text over `<|video_duration|>` at the processor call; `projector` outside the Qwen2.5-VL tower; empty think block unless `thinking`"),
        # --- group F (new this round) ---
        Family("cohere_compass", "Cohere Compass (North Vision)", "CohereCompassForConditionalGeneration", "CohereLabs/North-Micro-Vision-Instruct",
               notes="Qwen3-VL tower and processor, Cohere2 text model: sliding layers (interleaved M-RoPE) overflowed by the video prefix, cache copied per query; NoPE full-attention layers; `logit_scale`"),
        Family("muse_glimmer", "Muse Glimmer", "MuseGlimmerForConditionalGeneration", "meta-models/Muse-Glimmer-30B",
               notes="`Time: t.ts` per 2 frames between `<|vid_start|>`/`<|vid_end|>`; sliding layers overflowed by the video prefix (cache copied per query), NoPE full layers; `vision_adapter` + `vision_projection` projector; generation prompt ends before the channel (`<|start|>assistant`)"),
        Family("muse_spark", "Muse Spark", "MuseSparkForConditionalGeneration", "meta-models/Muse-Spark-Open-816B-A42B",
               notes="as Muse Glimmer (its video processor) with MoE layers: fused experts behind `pre_expert_proj`/`post_expert_proj` get LoRA through PEFT `target_parameters`; residual gates; audio tower unused and frozen"),
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
