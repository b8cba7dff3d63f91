"""Tiny GLM-GA (``model_type`` ``glmga``: ``Glm46VForConditionalGeneration`` with a ``GlmgaConfig``), built offline.

``glmga`` is a config model type of its own, not only a processor alias: ``GlmgaConfig`` (a
``Glm46VConfig`` subclass with ``model_type = "glmga"``) is what its checkpoints' ``config.json``
names, and ``AutoModelForImageTextToText`` maps it to the GLM-4.6V model classes, so a loaded model
is a ``Glm46VForConditionalGeneration`` whose ``config.model_type`` is ``glmga``. What is its own is
the vision preprocessing: ``GlmgaImageProcessor`` and ``GlmgaVideoProcessor`` (resize factor
``patch_size * merge_size * patch_expand_factor``; 2 fps sampling up to 640 frames, always an even
frame count; a larger default pixel budget). transformers has no GLM-GA processor class:
``AutoProcessor`` has no ``glmga`` entry, so the processor is GLM-4.6V's (``Glm46VProcessor``)
around the GLM-GA image and video processors, as the checkpoint's ``processor_config.json`` names them.

Real: ``GlmgaConfig`` with its default sub-configs (``glm4v_vision`` + ``glm4v_text``, built with
``AutoModel`` by ``Glm46VModel``), ``Glm46VProcessor`` with ``GlmgaImageProcessor`` and
``GlmgaVideoProcessor``, GLM-4.5's special tokens and the GLM-4.6V chat template layout
(see :mod:`.glm46v`). Tiny: as :mod:`.glm46v` (16-wide text model, 32-wide 2-block ViT, frames
resized to 56x56, 4 visual tokens per pair of frames).

What differs about the family: as GLM-4.6V (``"{t:.1f} seconds"`` after each pair of frames,
frames as image blocks told apart by ``mm_token_type_ids``, plain ``DynamicCache``); the frames
are resized to multiples of ``28 * patch_expand_factor``.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.glm4v import build_glm_v
from tests.support.tiny_families.glm4v_moe import GLM45_SPECIAL_TOKENS, GLM45V_CHAT_TEMPLATE


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random GLM-GA model (a GLM-4.6V model class under ``GlmgaConfig``) and its processor.

    >>> model, processor = build()
    >>> type(model).__name__, model.config.model_type, type(processor.video_processor).__name__
    ('Glm46VForConditionalGeneration', 'glmga', 'GlmgaVideoProcessor')
    """
    from transformers import Glm46VForConditionalGeneration, Glm46VProcessor, GlmgaConfig, GlmgaImageProcessor, GlmgaVideoProcessor

    return build_glm_v(GlmgaConfig, Glm46VForConditionalGeneration, (Glm46VProcessor, GlmgaImageProcessor, GlmgaVideoProcessor),
                       {"model_type": "glm4v_text"}, hidden_size, num_layers, seed, frame_size, GLM45_SPECIAL_TOKENS, GLM45V_CHAT_TEMPLATE)
