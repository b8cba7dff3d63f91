"""Tiny-size pieces several family builders share (the tokenizers are in :mod:`._tokenizers`).

>>> qwen_vit(16, 14, window_size=56)["hidden_size"], pixel_budget(56, frames=2)
(32, {'shortest_edge': 3136, 'longest_edge': 6272})
"""

from __future__ import annotations

from typing import Any

#: Qwen2.5-VL's windowed ViT: window attention in block 0, full in block 1 (as 7/15/23/31 of 32).
QWEN2_5_VIT_WINDOWS: dict[str, Any] = {"window_size": 56, "fullatt_block_indexes": [1]}


def qwen_vit(hidden_size: int, patch_size: int, **extra: Any) -> dict[str, Any]:
    """The vision config of a tiny Qwen-VL-style ViT: 2 blocks twice the text width (a vision width unlike
    the text width, as in every real checkpoint), 2 heads, a 2x2 patch merger into ``hidden_size``, 2
    frames per temporal patch; ``extra`` adds or overrides entries (the family's own)."""
    vision_dim = 2 * hidden_size
    return {
        "depth": 2,
        "hidden_size": vision_dim,
        "intermediate_size": 2 * vision_dim,
        "num_heads": 2,
        "out_hidden_size": hidden_size,
        "patch_size": patch_size,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        **extra,
    }


def pixel_budget(frame_size: int, frames: int = 1) -> dict[str, int]:
    """A Qwen-VL-style ``size``: at least one ``frame_size``-square frame's pixels, at most ``frames`` of them."""
    pixels = frame_size * frame_size
    return {"shortest_edge": pixels, "longest_edge": pixels * frames}
