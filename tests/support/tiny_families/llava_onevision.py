"""Tiny LLaVA-OneVision (SigLIP vision tower, Qwen2 text model)."""

from __future__ import annotations

from typing import Any


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    from temrobbench.tiny_models import build_tiny_llava_onevision

    model, processor = build_tiny_llava_onevision(hidden_size=hidden_size, num_layers=num_layers, seed=seed, frame_size=frame_size)
    processor.tokenizer.padding_side = "right"
    return model, processor
