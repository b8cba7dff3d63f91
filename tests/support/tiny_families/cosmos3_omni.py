"""Tiny Cosmos3-Omni reasoner (``Cosmos3OmniForConditionalGeneration``), built offline.

NVIDIA's Cosmos3 checkpoints (``nvidia/Cosmos3-Nano``, config ``model_type`` ``cosmos3_omni``) are unified:
a *Reasoner* that writes text from images and video, plus a generator (image/video diffusion) tower,
sound and action towers and cross-modal adapters. transformers builds the Reasoner only: its
architecture is Qwen3-VL's (``Cosmos3OmniForConditionalGeneration`` subclasses
``Qwen3VLForConditionalGeneration``; the config's sub-configs are ``qwen3_vl_text``/``qwen3_vl_vision``),
and the other towers' weights are dropped at load (``_keys_to_ignore_on_load_unexpected``).

Real: the model class and config (interleaved M-RoPE text model with q/k norm; the Qwen3-VL vision
tower with learned interpolated position embeddings, a DeepStack merger and the ``merger`` projector),
``Qwen3VLProcessor`` with ``Qwen2VLImageProcessor`` and ``Qwen3VLVideoProcessor`` (what the Auto classes
map ``cosmos3_omni`` to), Qwen's special tokens, and the Qwen3-VL hub chat template (``trl``'s
``qwen3_vl.jinja``; the Reasoner keeps Qwen3-VL's tokenizer and template layout: no default system
prompt, ``<|vision_start|><|video_pad|><|vision_end|>``, ``<|im_start|>assistant\\n``). Tiny: byte-level
tokenizer, 16-wide text model, 32-wide 2-block ViT, frames resized to 64x64. The weights are initialised
by ``PreTrainedModel._init_weights`` (Cosmos3's own override), not Qwen3-VL's.

What differs about the family (as Qwen3-VL):
- only the Reasoner is a video LMM here: the generator, sound and action towers are not built;
- timestamps in the prompt (``<t seconds>`` per pair of frames; bare frames assumed 24 fps with a
  warning); ``mm_token_type_ids`` from the processor; a plain ``DynamicCache`` (prefix cached and cropped).
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.qwen3_vl import build_qwen3_vl_family


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 64) -> tuple[Any, Any]:
    """A random Cosmos3-Omni Reasoner and its processor.

    >>> model, processor = build()
    >>> model.config.model_type, type(processor).__name__, model.config.vision_config.hidden_size
    ('cosmos3_omni', 'Qwen3VLProcessor', 32)
    """
    from transformers import Cosmos3OmniConfig, Cosmos3OmniForConditionalGeneration

    return build_qwen3_vl_family(Cosmos3OmniConfig, Cosmos3OmniForConditionalGeneration, None, hidden_size, num_layers, seed, frame_size)
