"""Tiny Qwen2-VL (the project's reference tiny model, with a right-padding tokenizer as shipped)."""

from __future__ import annotations

from typing import Any


def build(hidden_size: int = 16, num_layers: int = 2, seed: int = 0, frame_size: int = 56) -> tuple[Any, Any]:
    from temrobbench.tiny_models import build_tiny_qwen2vl

    # A vision width unlike the text width, as in every real checkpoint (1280 vs 1536-8192).
    model, processor = build_tiny_qwen2vl(hidden_size=hidden_size, num_layers=num_layers, vision_dim=2 * hidden_size, seed=seed, frame_size=frame_size)
    processor.tokenizer.padding_side = "right"  # what the hub processor ships
    return model, processor
