"""Tiny GLM-4.6V (``Glm46VForConditionalGeneration``), built offline.

Real: the model class (``Glm46VModel`` builds its vision tower and text model from the sub-configs
with ``AutoModel``; here the defaults, ``glm4v_vision`` + ``glm4v_text``: the dense layout of
``zai-org/GLM-4.6V-Flash``, whose 106B sibling ``zai-org/GLM-4.6V`` puts a ``glm4v_moe_text`` MoE
model in the same slot), ``Glm46VProcessor`` with ``Glm46VImageProcessor`` and
``Glm46VVideoProcessor``, GLM-4.5's special tokens (eos ``<|endoftext|>``, with ``<|user|>`` and
``<|observation|>`` also ending generation) and the GLM-4.6V hub chat template's layout (as
GLM-4.5V's, see :mod:`.glm4v_moe`; tools left out)::

    [gMASK]<sop><|system|>\\n{system}<|user|>\\n<|begin_of_video|><|video|><|end_of_video|>{text}<|assistant|>\\n

Tiny: byte-level tokenizer, 16-wide text model (1 head of 16, half of it rotary), 32-wide 2-block
ViT, frames resized to 56x56 (4 visual tokens per pair of frames).

What differs about the family: as GLM-4.1V/4.5V the video becomes per-pair-of-frames image blocks
(``<|begin_of_image|>`` + ``<|image|>``*n + ``<|end_of_image|>``) told apart by ``mm_token_type_ids``,
but each is followed by a fractional timestamp, ``"{t:.1f} seconds"`` (bare frames: 24 fps assumed
with a warning; pass ``video_metadata`` for true times); plain ``DynamicCache``.
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.glm4v import build_glm_v
from tests.support.tiny_families.glm4v_moe import GLM45_SPECIAL_TOKENS, GLM45V_CHAT_TEMPLATE


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random GLM-4.6V (dense text model, as GLM-4.6V-Flash) and its processor.

    >>> model, processor = build()
    >>> type(processor).__name__, model.config.text_config.model_type, model.config.vision_config.hidden_size
    ('Glm46VProcessor', 'glm4v_text', 32)
    """
    from transformers import Glm46VConfig, Glm46VForConditionalGeneration, Glm46VImageProcessor, Glm46VProcessor, Glm46VVideoProcessor

    return build_glm_v(Glm46VConfig, Glm46VForConditionalGeneration, (Glm46VProcessor, Glm46VImageProcessor, Glm46VVideoProcessor),
                       {"model_type": "glm4v_text"}, hidden_size, num_layers, seed, frame_size, GLM45_SPECIAL_TOKENS, GLM45V_CHAT_TEMPLATE)
