"""The model families ``hf:`` and ``PanoDPOTrainer`` refuse at load, and why: one home for the reasons.

``hf:`` loads any transformers video LMM, and the run-time self-check guards families nobody has
proven. A family lands here only when it is known not to work: evaluating or training it would fail
deep inside transformers or, worse, give numbers that mean nothing. Each entry is keyed by the
config's ``model_type`` and says why in one clause and what to do instead; ``training_only`` entries
still evaluate. Families whose transformers video processor belongs to a model that generates no
text (classifiers, encoders, segmenters) are in :data:`NOT_GENERATIVE`: they are not video LMMs.

>>> check_family("qwen2_vl", training=True)  # proven: nothing raised
>>> sorted(NOT_GENERATIVE)[:2]
['embedding_gemma2', 'pe_audio_video']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temrobbench.utils.errors import UserError


@dataclass(frozen=True)
class Refusal:
    """Why a family cannot be used (``reason``), what to do (``hint``), and whether only training is refused."""

    reason: str
    hint: str
    training_only: bool = False


#: model_type -> why ``hf:`` (and ``PanoDPOTrainer``) refuse it at load. Tested in
#: tests/temrobbench/test_family_support.py; listed in docs/models.md.
REFUSED: dict[str, Refusal] = {
    # group C: checked against transformers 5.24 (tests/temrobbench/evaluation/models/test_family_refusals_c.py)
    "nemotron_h_omni": Refusal(
        "NemotronH_Omni_Reasoning_V3Processor takes a video with a single prompt only (\"Videos are only supported with a "
        "single prompt\"), and the PanoDPO collator encodes a batch of prompts with their videos in one processor call",
        "evaluate it with hf: (generation runs one query at a time); train another family of docs/models.md",
        training_only=True),
    # group D: checked against transformers 5.24 (tests/temrobbench/evaluation/models/test_family_refusals_d.py)
    "instructblipvideo": Refusal(
        "InstructBlipVideoProcessor writes num_query_tokens x 4 video tokens whatever the frame count, so the model "
        "silently drops every frame after the 4th (its masked_scatter keeps the first 4 frames' Q-Former outputs); it "
        "also takes frames as `images=` (a `videos=` argument is ignored: no pixel values), conditions the visual "
        "tokens on the question (its Q-Former reads the prompt) and ships no chat template",
        "evaluate a family of the matrix (docs/models.md); TemRobBench's temporal questions need every sampled frame"),
    "instructblip": Refusal(
        "InstructBlipProcessor has no video processor and InstructBlipForConditionalGeneration encodes single images "
        "(4-D pixel_values): transformers maps instructblip to InstructBlipVideo's video processor, but neither the "
        "processor nor the model takes frames",
        "evaluate a family of the matrix (docs/models.md)"),
}

#: model_type -> what the model is: transformers ships a video processor for it, but it generates no text.
NOT_GENERATIVE: dict[str, str] = {
    "embedding_gemma2": "multimodal embedding model",
    "pe_audio_video": "audio-video encoder (Perception Encoder)",
    "pe_video": "video encoder (Perception Encoder)",
    "sam2_video": "video segmentation (SAM 2)",
    "timesformer": "video classifier",
    "videomae": "video classifier / masked autoencoder",
    "videomt": "video transformer encoder",
    "videoprism": "video encoder",
    "vivit": "video classifier",
    "vjepa2": "self-supervised video encoder",
}


def model_type_of(model_or_config: Any) -> str:
    """The ``model_type`` of a model, a config, or a string (returned as is)."""
    if isinstance(model_or_config, str):
        return model_or_config
    config = getattr(model_or_config, "config", model_or_config)
    return str(getattr(config, "model_type", ""))


def check_family(model_or_config: Any, *, training: bool, subject: object = None) -> None:
    """Raise one-line :class:`UserError` if this family is refused (for training when ``training``).

    >>> try:
    ...     check_family("videomae", training=False, subject="hf:MCG-NJU/videomae-base")
    ... except UserError as err:
    ...     print(err.line())
    error: videomae is a video classifier / masked autoencoder, not a video LMM: it generates no text (hf:MCG-NJU/videomae-base): evaluate a model that generates text from video (docs/models.md lists the proven families)
    """
    model_type = model_type_of(model_or_config)
    what = "PanoDPOTrainer" if training else "hf:"
    if model_type in NOT_GENERATIVE:
        raise UserError(f"{model_type} is a {NOT_GENERATIVE[model_type]}, not a video LMM: it generates no text", subject,
                        "evaluate a model that generates text from video (docs/models.md lists the proven families)")
    refusal = REFUSED.get(model_type)
    if refusal is None or (refusal.training_only and not training):
        return
    raise UserError(f"{what} does not support {model_type} yet: {refusal.reason}", subject, refusal.hint)
