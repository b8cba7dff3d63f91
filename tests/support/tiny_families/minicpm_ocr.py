"""Tiny MiniCPM-OCR (``MiniCPMOcrForConditionalGeneration``), built offline.

MiniCPM-OCR is MiniCPM-V 4.6 tuned for text-dense documents, and it still generates text from a
video (its processor has a video processor), so it is in the matrix.

Real: the model class (MiniCPM-V 4.6's NaViT vision tower and 2x2 ``merger`` MLP, a Qwen3.5 hybrid
linear/full-attention text model, embeddings tied to the output head as in
``openbmb/MiniCPM-OCR-1.0``), ``downsample_mode="4x"`` (the window-attention merger inside the tower
is skipped, so a frame keeps 4x more tokens than in MiniCPM-V); ``MiniCPMOcrProcessor`` with
``MiniCPMOcrImageProcessor`` and ``MiniCPMOcrVideoProcessor``; the tokenizer and chat layout of
:mod:`tests.support.tiny_families.minicpmv4_6` (Qwen3.5's ChatML, non-thinking generation prompt, the
video item as a bare ``<|video_pad|>``; the hub's ``chat_template.jinja`` could not be read offline).

Tiny: 16-wide 2-layer text model, 32-wide 2-block vision tower, frames resized to 56x56 (4x4 patches,
merged 2x2: 4 tokens per frame; the hub resizes to about 448 px).

What differs about the family (from MiniCPM-V 4.6): ``4x`` downsampling (frame resolutions are
multiples of 28, not 56) and tied embeddings; otherwise ``<image_id>0</image_id>`` then
``<image>...</image>`` per frame, one NaViT row for the whole batch, linear-attention cache (copied per
query by ``hf:``, no PanoDPO shared prefix).
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.minicpmv4_6 import minicpm_chat_template, minicpm_config, minicpm_processors, minicpm_tokenizer


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    """A random MiniCPM-OCR and its processor (CPU, eval mode).

    >>> model, processor = build()
    >>> type(model).__name__, type(processor).__name__, model.config.downsample_mode
    ('MiniCPMOcrForConditionalGeneration', 'MiniCPMOcrProcessor', '4x')
    """
    import torch
    from transformers import MiniCPMOcrConfig, MiniCPMOcrForConditionalGeneration, MiniCPMOcrProcessor

    template = minicpm_chat_template()
    tokenizer = minicpm_tokenizer(template)
    patch = 14
    config = MiniCPMOcrConfig(**minicpm_config(tokenizer, hidden_size, num_layers, frame_size, patch), tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = MiniCPMOcrForConditionalGeneration(config).eval()
    processor = MiniCPMOcrProcessor(tokenizer=tokenizer, chat_template=template, **minicpm_processors(frame_size, patch, "MiniCPMOcr"))
    return model, processor
