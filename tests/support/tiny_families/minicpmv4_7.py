"""Tiny MiniCPM-V 4.7 (``MiniCPMV4_7ForConditionalGeneration``), built offline.

Real: the model class (MiniCPM-V 4.6's NaViT vision tower, window-attention merger and 2x2 ``merger``
MLP, and a Qwen3.5 hybrid linear/full-attention text model) with 4.7's canvas M-RoPE: every frame is
laid out on a 2-D canvas of (t, h, w) positions anchored on the ``<image>``/``</image>``,
``<slice>``/``</slice>`` and newline markers (their ids in the config: ``image_start_id`` ...), found
through the processor's ``mm_token_type_ids`` (0 text, 1 image, 2 video); ``MiniCPMV4_7Processor``
with ``MiniCPMV4_6ImageProcessor`` and ``MiniCPMV4_6VideoProcessor`` (what ``AutoProcessor`` maps
``minicpmv4_7`` to); the tokenizer and chat layout of :mod:`tests.support.tiny_families.minicpmv4_6`
(Qwen3.5's ChatML, non-thinking generation prompt, the video item as a bare ``<|video_pad|>``; the
hub's own ``chat_template.jinja`` of ``openbmb/MiniCPM-V-4.7-1B`` could not be read offline).

Tiny: as MiniCPM-V 4.6 (16-wide 2-layer text model, 32-wide 2-block vision tower, frames resized to
112x112: 4 tokens per frame).

What differs about the family (from 4.6):
- no ``<image_id>`` before a video: frames are ``<image><|video_pad|>*k</image>`` one after another;
- ``mm_token_type_ids`` (2 over the video tokens) drive M-RoPE; the model keeps ``rope_deltas`` from the
  prompt's forward for the tokens that continue from its cache, as Qwen-VL does;
- as 4.6: all frames of a batch packed in one NaViT row, linear-attention layers (cache copied per
  query, no PanoDPO shared prefix).
"""

from __future__ import annotations

from typing import Any

from tests.support.tiny_families.minicpmv4_6 import minicpm_chat_template, minicpm_config, minicpm_processors, minicpm_tokenizer


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 112) -> tuple[Any, Any]:
    """A random MiniCPM-V 4.7 and its processor (CPU, eval mode).

    >>> model, processor = build()
    >>> type(model).__name__, type(processor).__name__, processor.return_mm_token_type_ids
    ('MiniCPMV4_7ForConditionalGeneration', 'MiniCPMV4_7Processor', True)
    """
    import torch
    from transformers import MiniCPMV4_7Config, MiniCPMV4_7ForConditionalGeneration, MiniCPMV4_7Processor

    template = minicpm_chat_template()
    tokenizer = minicpm_tokenizer(template)
    patch = 14
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in
           (("image_start_id", "<image>"), ("image_end_id", "</image>"), ("slice_start_id", "<slice>"), ("slice_end_id", "</slice>"))}
    config = MiniCPMV4_7Config(
        **minicpm_config(tokenizer, hidden_size, num_layers, frame_size, patch),
        image_size=frame_size,
        newline_id=tokenizer("\n", add_special_tokens=False)["input_ids"][0],
        tie_word_embeddings=False,
        **ids,
    )
    torch.manual_seed(seed)
    model = MiniCPMV4_7ForConditionalGeneration(config).eval()
    processor = MiniCPMV4_7Processor(tokenizer=tokenizer, chat_template=template, **minicpm_processors(frame_size, patch))
    return model, processor
